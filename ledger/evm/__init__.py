"""The EVM adapters: the Solidity compiler, the local anvil node, deployment and the typed
contract handle."""
