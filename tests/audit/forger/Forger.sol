// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {MerkleLog} from "./libraries/MerkleLog.sol";

/// @title Forger
/// @notice A contract built from other sources (test only): it emits AidLedger's events with
/// whatever the caller says and enforces none of its rules, so the audit's tests can put on
/// a real chain each kind of record, event and root the real contract would refuse. Its log
/// is a real RFC 9162 log over the emitted record bytes unless `rootOverride` is set.
contract Forger is Multicall {
    using MerkleLog for MerkleLog.Log;

    event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender);
    event RoleRevoked(bytes32 indexed role, address indexed account, address indexed sender);
    event CountyRegistered(address indexed account, uint32 indexed county, string name);
    event OrganizationRegistered(
        address indexed account, bytes32 indexed orgCode, string name, uint8 orgType, string authority
    );
    event AuditorRegistered(address indexed account, string name);
    event RecordAppended(
        uint256 indexed index, bytes32 indexed recordId, uint8 indexed kind, bytes32 leafHash, bytes record
    );

    MerkleLog.Log private _log;
    bytes32 public rootOverride;
    mapping(bytes32 id => uint128[3]) private _totals;

    function grant(bytes32 role, address account) external {
        emit RoleGranted(role, account, msg.sender);
    }

    function revoke(bytes32 role, address account) external {
        emit RoleRevoked(role, account, msg.sender);
    }

    function registerCounty(address account, uint32 county, string calldata name) external {
        emit RoleGranted(keccak256("COUNTY"), account, msg.sender);
        emit CountyRegistered(account, county, name);
    }

    function registerOrganization(
        address account,
        bytes32 orgCode,
        string calldata name,
        uint8 orgType,
        string calldata authority
    ) external {
        emit RoleGranted(keccak256("ORG"), account, msg.sender);
        emit OrganizationRegistered(account, orgCode, name, orgType, authority);
    }

    function registerAuditor(address account, string calldata name) external {
        emit RoleGranted(keccak256("AUDITOR"), account, msg.sender);
        emit AuditorRegistered(account, name);
    }

    /// @notice Appends `record` to the log and emits it honestly.
    function append(bytes32 id, uint8 kind, bytes calldata record) external {
        bytes32 leaf = MerkleLog.leafHash(record);
        uint256 index = _log.append(leaf);
        emit RecordAppended(index, id, kind, leaf, record);
    }

    /// @notice Appends `record` to the log but emits the index, id and leaf hash given.
    function forge(uint256 index, bytes32 id, uint8 kind, bytes32 leaf, bytes calldata record) external {
        _log.append(MerkleLog.leafHash(record));
        emit RecordAppended(index, id, kind, leaf, record);
    }

    function setRootOverride(bytes32 root) external {
        rootOverride = root;
    }

    function setTotals(bytes32 id, uint128 committed, uint128 delivered, uint128 confirmed) external {
        _totals[id] = [committed, delivered, confirmed];
    }

    function logSize() external view returns (uint256) {
        return _log.size;
    }

    function logRoot() external view returns (bytes32) {
        return rootOverride != bytes32(0) ? rootOverride : _log.root();
    }

    function commitmentTotals(bytes32 id) external view returns (uint128, uint128, uint128) {
        uint128[3] memory t = _totals[id];
        return (t[0], t[1], t[2]);
    }
}
