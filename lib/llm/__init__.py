"""Talking to models: the provider registry and client factory, one chat request, reply streams."""
