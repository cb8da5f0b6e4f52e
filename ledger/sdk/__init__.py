"""The client side: the HTTP client, the batch client and signing-key files (keys stay on
the device)."""
