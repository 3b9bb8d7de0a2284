"""The chat feature: typed turns, sending a message, personas, import and export."""
