"""The worker that runs inside a container (or a local process): entry loop, wire protocol, image recipe."""
