"""Test support: real infrastructure handles and service processes, shared by the test layers."""
