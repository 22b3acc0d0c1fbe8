"""HTTP plumbing every service shares: health, operations app, correlation ids, problems."""
