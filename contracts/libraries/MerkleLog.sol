// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title MerkleLog
/// @notice An append-only RFC 9162 (Certificate Transparency v2) Merkle tree that keeps only
/// its frontier: the root of each perfect subtree, one per set bit of the tree's size.
/// @dev Leaves are hashed by the caller as SHA-256(0x00 || data); interior nodes are
/// SHA-256(0x01 || left || right); the empty tree's root is SHA-256(""). Hashing uses the
/// SHA-256 precompile, so roots are byte-for-byte those of any RFC 9162 implementation.
library MerkleLog {
    /// @dev The tree's size and its frontier. `frontier[level]` is the root of the perfect
    /// subtree of 2**level leaves, present only when bit `level` of `size` is set.
    struct Log {
        uint256 size;
        mapping(uint256 level => bytes32) frontier;
    }

    /// @notice SHA-256 of the empty string: the root of a tree with no leaves.
    bytes32 internal constant EMPTY_ROOT = 0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855;

    /// @notice The RFC 9162 leaf hash of `data`.
    function leafHash(bytes memory data) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(bytes1(0x00), data));
    }

    /// @notice The RFC 9162 interior node hash of two children.
    function nodeHash(bytes32 left, bytes32 right) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(bytes1(0x01), left, right));
    }

    /// @notice Appends a leaf hash and returns its index.
    /// @dev Like binary addition with carry: each set low bit of `size` is a perfect subtree
    /// that merges with the new one, left of it.
    function append(Log storage log, bytes32 leaf) internal returns (uint256 index) {
        index = log.size;
        bytes32 node = leaf;
        uint256 level = 0;
        uint256 bits = index;
        while (bits & 1 == 1) {
            // The merged slot is left as it is: only levels whose bit is set in `size` are
            // ever read, and overwriting a non-zero slot later is far cheaper than a fresh one.
            node = nodeHash(log.frontier[level], node);
            bits >>= 1;
            // Cannot overflow: level is at most 255 because size is a uint256 that is never full.
            unchecked {
                ++level;
            }
        }
        log.frontier[level] = node;
        // Cannot overflow: 2**256 appends cannot happen.
        unchecked {
            log.size = index + 1;
        }
    }

    /// @notice The RFC 9162 root of the tree: the frontier folded from the smallest subtree up.
    function root(Log storage log) internal view returns (bytes32) {
        uint256 bits = log.size;
        if (bits == 0) return EMPTY_ROOT;
        bytes32 acc;
        bool started = false;
        uint256 level = 0;
        while (bits != 0) {
            if (bits & 1 == 1) {
                acc = started ? nodeHash(log.frontier[level], acc) : log.frontier[level];
                started = true;
            }
            bits >>= 1;
            // Cannot overflow: level counts the bits of a uint256.
            unchecked {
                ++level;
            }
        }
        return acc;
    }
}
