"""How soon an incident report reaches HQ's dashboard stream."""
