"""HTTP blueprints: parse, authorise, call a service, serialise. No business logic here."""
