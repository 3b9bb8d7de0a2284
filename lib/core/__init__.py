"""The ground floor: settings, errors, identity and the access policy, the address guard, prices, the usage log."""
