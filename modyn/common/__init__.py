"""Code every service shares. Imports no service package."""
