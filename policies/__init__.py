"""Policy data (plan catalogue, lifecycle, ACL): files read at start-up, never written by tools."""
