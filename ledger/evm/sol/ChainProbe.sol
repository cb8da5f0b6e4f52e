// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title ChainProbe: a throwaway contract `bangfu chain probe` deploys to check, on a live
/// node, what AidLedger relies on: EIP-712 recovery with the same OpenZeppelin ECDSA, the
/// SHA-256 precompile, block.timestamp's unit, block.chainid and the CREATE address rule.
/// It holds nothing and nobody depends on it after the probe.
contract ChainProbe is EIP712 {
    bytes32 public constant PING_TYPEHASH = keccak256("Ping(bytes32 payload,uint256 nonce)");

    event Spawned(address child);
    event Tick(uint256 indexed round, uint256 i);

    constructor() EIP712("BangfuProbe", "1") {}

    /// @notice The signer of a Ping(payload, nonce) under this contract's EIP-712 domain.
    function recoverPing(bytes32 payload, uint256 nonce, bytes calldata signature)
        external
        view
        returns (address recovered, uint8 err)
    {
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(PING_TYPEHASH, payload, nonce)));
        ECDSA.RecoverError e;
        (recovered, e,) = ECDSA.tryRecover(digest, signature);
        err = uint8(e);
    }

    function sha(bytes calldata data) external pure returns (bytes32) {
        return sha256(data);
    }

    function clock() external view returns (uint256 timestamp, uint256 number, uint256 chainId) {
        return (block.timestamp, block.number, block.chainid);
    }

    /// @notice Creates a child with CREATE (this contract's nonce decides its address).
    function spawn() external returns (address child) {
        child = address(new ProbeChild());
        emit Spawned(child);
    }

    /// @notice Emits `n` Tick events in one transaction (for eth_getLogs result limits).
    function ticks(uint256 round, uint256 n) external {
        for (uint256 i = 0; i < n; ++i) {
            emit Tick(round, i);
        }
    }
}

contract ProbeChild {
    uint256 public immutable born = block.number;
}
