// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {IAidLedger} from "./interfaces/IAidLedger.sol";
import {MerkleLog} from "./libraries/MerkleLog.sol";

/// @title AidLedger
/// @notice Bangfu Ledger (帮扶链): author-signed aid records on an append-only RFC 9162 log.
/// @dev Canonical record bytes (the leaf data, also emitted in `RecordAppended`) are
/// `FORMAT_VERSION ‖ kind ‖ chainid ‖ address(this) ‖ signer ‖ abi.encode(struct) ‖ r ‖ s ‖ v`,
/// packed. ledger/records.py builds and parses exactly these bytes.
///
/// Roles: the admin (the civil-affairs office) is OpenZeppelin's two-step
/// `DEFAULT_ADMIN_ROLE` with a transfer delay set at deployment; `ADMIN_ROLE` always names
/// the same account. COUNTY, ORG and AUDITOR are granted and revoked only through the
/// (de)registration functions, and one address holds at most one of them.
contract AidLedger is IAidLedger, AccessControlDefaultAdminRules, EIP712, Multicall {
    using MerkleLog for MerkleLog.Log;

    /// @notice Held by exactly the account that holds DEFAULT_ADMIN_ROLE (mirrored).
    bytes32 public constant ADMIN_ROLE = keccak256("ADMIN");
    bytes32 public constant COUNTY_ROLE = keccak256("COUNTY");
    bytes32 public constant ORG_ROLE = keccak256("ORG");
    bytes32 public constant AUDITOR_ROLE = keccak256("AUDITOR");

    uint8 public constant FORMAT_VERSION = 1;
    uint8 internal constant KIND_PROJECT_ANCHOR = 1;
    uint8 internal constant KIND_COMMITMENT = 2;
    uint8 internal constant KIND_DELIVERY = 3;
    uint8 internal constant KIND_RECEIPT = 4;
    uint8 internal constant KIND_FLAG = 5;
    uint8 internal constant KIND_DELIVERY_BATCH = 6;
    uint8 internal constant PROJECT_NEED = 1;
    uint8 internal constant PROJECT_SUPPLY = 2;
    uint8 internal constant CATEGORY_COUNT = 10;
    uint8 internal constant RESOURCE_KIND_COUNT = 3;
    /// @dev Quantities fit a signed 64-bit integer, so every SQL read model can hold them.
    uint128 internal constant MAX_QUANTITY = uint128(type(uint64).max >> 1);
    uint256 internal constant MAX_TITLE_BYTES = 200;
    /// @dev Organization types: 1 社会团体, 2 民办非企业单位 (社会服务机构), 3 基金会.
    uint8 internal constant ORG_TYPE_COUNT = 3;
    /// @notice The most commitments one DeliveryBatch may deliver against (ledger/batches.py
    /// MAX_COMMITMENTS).
    uint256 public constant MAX_BATCH_COMMITMENTS = 256;

    bytes32 internal constant PROJECT_ANCHOR_TYPEHASH = keccak256(
        "ProjectAnchor(bytes32 id,bytes32 projectId,uint8 projectKind,uint32 county,uint8 category,string title,uint128 budget,uint32 endDate,bytes32 contentHash,uint32 version)"
    );
    bytes32 internal constant COMMITMENT_TYPEHASH = keccak256(
        "Commitment(bytes32 id,bytes32 needId,bytes32 matchId,uint8 resourceKind,uint128 quantity,bytes32 unit,uint64 dueDate,bytes32 termsHash)"
    );
    bytes32 internal constant DELIVERY_TYPEHASH = keccak256(
        "Delivery(bytes32 id,bytes32 commitmentId,uint128 quantity,uint64 deliveredAt,bytes32 evidenceHash,uint32 beneficiaryCount,bytes32 beneficiaryRoot)"
    );
    bytes32 internal constant RECEIPT_TYPEHASH =
        keccak256("Receipt(bytes32 id,bytes32 deliveryId,uint128 confirmedQuantity,bytes32 noteHash)");
    bytes32 internal constant FLAG_TYPEHASH =
        keccak256("Flag(bytes32 id,bytes32 recordId,uint16 reasonCode,bytes32 noteHash)");
    bytes32 internal constant DELIVERY_BATCH_TYPEHASH = keccak256(
        "DeliveryBatch(bytes32 id,bytes32[] commitmentIds,uint128[] quantities,uint32 lineCount,bytes32 batchRoot,bytes32 evidenceHash)"
    );

    struct ProjectState {
        address owner;
        uint32 version;
        uint32 county;
        uint8 projectKind;
    }

    struct CommitmentState {
        address org;
        uint32 county;
        uint128 quantity;
        uint128 delivered;
        uint128 confirmed;
    }

    struct DeliveryState {
        // For a batch, its single commitment, or zero when it serves several.
        bytes32 commitmentId;
        uint128 quantity;
        bool receipted;
    }

    MerkleLog.Log private _log;
    mapping(bytes32 id => uint8 kind) private _recordKinds;
    mapping(bytes32 projectId => ProjectState) private _projects;
    mapping(bytes32 commitmentId => CommitmentState) private _commitments;
    mapping(bytes32 deliveryId => DeliveryState) private _deliveries;
    mapping(address account => uint32 county) private _countyOf;
    mapping(address account => bytes32 orgCode) private _orgCodeOf;

    /// @param admin the civil-affairs office, which registers and deregisters every key
    /// @param adminDelay seconds a transfer of the admin role waits between its two steps
    constructor(address admin, uint48 adminDelay)
        AccessControlDefaultAdminRules(adminDelay, admin)
        EIP712("BangfuLedger", "1")
    {}

    // ------------------------------------------------------------------ administration

    /// @inheritdoc IAidLedger
    function registerCounty(address account, uint32 county, string calldata name)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (county < 100000 || county > 999999) revert InvalidCountyCode(county);
        if (!_isTitle(bytes(name))) revert InvalidName(account);
        _requireNoOtherRole(account, COUNTY_ROLE);
        _countyOf[account] = county;
        _grantRole(COUNTY_ROLE, account);
        emit CountyRegistered(account, county, name);
    }

    /// @inheritdoc IAidLedger
    function registerOrganization(
        address account,
        bytes32 orgCode,
        string calldata name,
        uint8 orgType,
        string calldata authority
    ) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (orgCode == bytes32(0)) revert InvalidOrgCode(account);
        if (!_isTitle(bytes(name))) revert InvalidName(account);
        if (orgType == 0 || orgType > ORG_TYPE_COUNT) revert InvalidOrgType(orgType);
        // The registering authority may be left out (empty), but what is given is a name.
        if (bytes(authority).length != 0 && !_isTitle(bytes(authority))) revert InvalidAuthority(account);
        _requireNoOtherRole(account, ORG_ROLE);
        _orgCodeOf[account] = orgCode;
        _grantRole(ORG_ROLE, account);
        emit OrganizationRegistered(account, orgCode, name, orgType, authority);
    }

    /// @inheritdoc IAidLedger
    function registerAuditor(address account, string calldata name) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!_isTitle(bytes(name))) revert InvalidName(account);
        _requireNoOtherRole(account, AUDITOR_ROLE);
        _grantRole(AUDITOR_ROLE, account);
        emit AuditorRegistered(account, name);
    }

    /// @inheritdoc IAidLedger
    function deregisterCounty(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _deregister(COUNTY_ROLE, account);
    }

    /// @inheritdoc IAidLedger
    function deregisterOrganization(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _deregister(ORG_ROLE, account);
    }

    /// @inheritdoc IAidLedger
    function deregisterAuditor(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _deregister(AUDITOR_ROLE, account);
    }

    /// @notice Closed for every role: COUNTY, ORG and AUDITOR come only from the
    /// registration functions, ADMIN and DEFAULT_ADMIN only from the two-step admin transfer
    /// (`beginDefaultAdminTransfer`, `acceptDefaultAdminTransfer`).
    function grantRole(bytes32 role, address) public pure override {
        revert RoleManagedByRegistration(role);
    }

    /// @notice Closed for every role: use the deregistration functions, or the two-step admin
    /// transfer for the admin.
    function revokeRole(bytes32 role, address) public pure override {
        revert RoleManagedByRegistration(role);
    }

    /// @notice A key gives up its own COUNTY, ORG or AUDITOR role (deregistering itself, with
    /// the same event as the admin's deregistration), or the admin renounces as
    /// AccessControlDefaultAdminRules allows. ADMIN_ROLE cannot be renounced on its own.
    /// @param role the role to give up
    /// @param callerConfirmation the caller's own address
    function renounceRole(bytes32 role, address callerConfirmation)
        public
        override
    {
        if (role == ADMIN_ROLE) revert RoleManagedByRegistration(role);
        if (role == COUNTY_ROLE || role == ORG_ROLE || role == AUDITOR_ROLE) {
            if (callerConfirmation != _msgSender()) revert AccessControlBadConfirmation();
            _deregister(role, callerConfirmation);
            return;
        }
        super.renounceRole(role, callerConfirmation);
    }

    // ------------------------------------------------------------------ records

    /// @inheritdoc IAidLedger
    function submitProjectAnchor(ProjectAnchor calldata anchor, bytes calldata signature) external {
        address signer = _recoverSigner(_hashProjectAnchor(anchor), anchor.id, signature);
        _checkProjectAnchor(anchor, signer);
        ProjectState storage project = _projects[anchor.projectId];
        if (project.version == 0) {
            project.owner = signer;
            project.county = anchor.county;
            project.projectKind = anchor.projectKind;
        }
        project.version = anchor.version;
        _append(anchor.id, KIND_PROJECT_ANCHOR, signer, abi.encode(anchor), signature);
        emit ProjectAnchored(anchor.id, anchor.projectId, signer, anchor.version);
    }

    /// @inheritdoc IAidLedger
    function submitCommitment(Commitment calldata commitment, bytes calldata signature) external {
        address signer = _recoverSigner(keccak256(abi.encode(COMMITMENT_TYPEHASH, commitment)), commitment.id, signature);
        _requireRole(ORG_ROLE, signer);
        ProjectState storage need = _projects[commitment.needId];
        if (need.version == 0 || need.projectKind != PROJECT_NEED) revert UnknownNeed(commitment.needId);
        if (commitment.quantity == 0 || commitment.quantity > MAX_QUANTITY) {
            revert InvalidQuantity(commitment.id, commitment.quantity);
        }
        if (commitment.resourceKind == 0 || commitment.resourceKind > RESOURCE_KIND_COUNT) {
            revert InvalidResourceKind(commitment.id, commitment.resourceKind);
        }
        CommitmentState storage state = _commitments[commitment.id];
        state.org = signer;
        state.county = need.county;
        state.quantity = commitment.quantity;
        _append(commitment.id, KIND_COMMITMENT, signer, abi.encode(commitment), signature);
        emit CommitmentRecorded(commitment.id, commitment.needId, signer, commitment.quantity);
    }

    /// @inheritdoc IAidLedger
    function submitDelivery(Delivery calldata delivery, bytes calldata signature) external {
        address signer = _recoverSigner(keccak256(abi.encode(DELIVERY_TYPEHASH, delivery)), delivery.id, signature);
        _requireRole(ORG_ROLE, signer);
        if (delivery.quantity == 0) revert InvalidQuantity(delivery.id, 0);
        _deliver(delivery.commitmentId, delivery.quantity, signer);
        _deliveries[delivery.id] = DeliveryState(delivery.commitmentId, delivery.quantity, false);
        _append(delivery.id, KIND_DELIVERY, signer, abi.encode(delivery), signature);
        emit DeliveryRecorded(delivery.id, delivery.commitmentId, signer, delivery.quantity);
    }

    /// @inheritdoc IAidLedger
    function submitReceipt(Receipt calldata receipt, bytes calldata signature) external {
        address signer = _recoverSigner(keccak256(abi.encode(RECEIPT_TYPEHASH, receipt)), receipt.id, signature);
        _requireRole(COUNTY_ROLE, signer);
        DeliveryState storage delivery = _deliveries[receipt.deliveryId];
        if (delivery.quantity == 0) revert UnknownDelivery(receipt.deliveryId);
        if (delivery.commitmentId == bytes32(0)) revert BatchReceiptNeedsSingleCommitment(receipt.deliveryId);
        if (delivery.receipted) revert AlreadyReceipted(receipt.deliveryId);
        if (receipt.confirmedQuantity > delivery.quantity) {
            revert OverConfirmation(receipt.deliveryId, delivery.quantity, receipt.confirmedQuantity);
        }
        CommitmentState storage commitment = _commitments[delivery.commitmentId];
        // Unreachable while roles stay exclusive; it also holds for a key that was once an ORG.
        if (commitment.org == signer) revert SelfReceipt(receipt.deliveryId, signer);
        if (_countyOf[signer] != commitment.county) revert WrongCounty(signer, commitment.county, _countyOf[signer]);
        delivery.receipted = true;
        commitment.confirmed += receipt.confirmedQuantity;
        _append(receipt.id, KIND_RECEIPT, signer, abi.encode(receipt), signature);
        emit ReceiptRecorded(receipt.id, receipt.deliveryId, signer, receipt.confirmedQuantity);
    }

    /// @inheritdoc IAidLedger
    function submitFlag(Flag calldata flag, bytes calldata signature) external {
        address signer = _recoverSigner(keccak256(abi.encode(FLAG_TYPEHASH, flag)), flag.id, signature);
        _requireRole(AUDITOR_ROLE, signer);
        if (_recordKinds[flag.recordId] == 0) revert UnknownRecord(flag.recordId);
        _append(flag.id, KIND_FLAG, signer, abi.encode(flag), signature);
        emit FlagRaised(flag.id, flag.recordId, signer, flag.reasonCode);
    }

    /// @inheritdoc IAidLedger
    function submitDeliveryBatch(DeliveryBatch calldata batch, bytes calldata signature) external {
        address signer = _recoverSigner(_hashDeliveryBatch(batch), batch.id, signature);
        _requireRole(ORG_ROLE, signer);
        uint128 total = _deliverBatch(batch, signer);
        bytes32 single = batch.commitmentIds.length == 1 ? batch.commitmentIds[0] : bytes32(0);
        _deliveries[batch.id] = DeliveryState(single, total, false);
        _append(batch.id, KIND_DELIVERY_BATCH, signer, abi.encode(batch), signature);
        emit DeliveryBatchRecorded(batch.id, signer, batch.lineCount, batch.batchRoot);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IAidLedger
    function logSize() external view returns (uint256) {
        return _log.size;
    }

    /// @inheritdoc IAidLedger
    function logRoot() external view returns (bytes32) {
        return _log.root();
    }

    /// @inheritdoc IAidLedger
    function recordKind(bytes32 id) external view returns (uint8) {
        return _recordKinds[id];
    }

    /// @inheritdoc IAidLedger
    function commitmentTotals(bytes32 commitmentId)
        external
        view
        returns (uint128 committed, uint128 delivered, uint128 confirmed)
    {
        CommitmentState storage state = _commitments[commitmentId];
        return (state.quantity, state.delivered, state.confirmed);
    }

    /// @inheritdoc IAidLedger
    function countyOf(address account) external view returns (uint32) {
        return _countyOf[account];
    }

    /// @inheritdoc IAidLedger
    function orgCodeOf(address account) external view returns (bytes32) {
        return _orgCodeOf[account];
    }

    /// @notice The EIP-712 domain separator records are signed under.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ------------------------------------------------------------------ internals

    /// @dev Recovers the EIP-712 signer; OpenZeppelin's ECDSA rejects high-s (malleable)
    /// signatures and any signature that is not 65 bytes.
    function _recoverSigner(bytes32 structHash, bytes32 id, bytes calldata signature)
        internal
        view
        returns (address signer)
    {
        if (_recordKinds[id] != 0) revert RecordIdUsed(id);
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(_hashTypedDataV4(structHash), signature);
        if (err != ECDSA.RecoverError.NoError) revert InvalidSignature(id);
        if (address(bytes20(id)) != recovered) revert RecordIdNotScoped(id, recovered);
        return recovered;
    }

    function _requireRole(bytes32 role, address signer) internal view {
        if (!hasRole(role, signer)) revert MissingRole(signer, role);
    }

    /// @dev COUNTY, ORG and AUDITOR are exclusive: `account` may hold only `role` of them.
    function _requireNoOtherRole(address account, bytes32 role) internal view {
        if (role != COUNTY_ROLE && hasRole(COUNTY_ROLE, account)) revert RoleConflict(account, COUNTY_ROLE);
        if (role != ORG_ROLE && hasRole(ORG_ROLE, account)) revert RoleConflict(account, ORG_ROLE);
        if (role != AUDITOR_ROLE && hasRole(AUDITOR_ROLE, account)) revert RoleConflict(account, AUDITOR_ROLE);
    }

    /// @dev Revokes a registered role, forgets what was bound to the key, and says so.
    function _deregister(bytes32 role, address account) internal {
        if (!hasRole(role, account)) revert NotRegistered(account, role);
        _revokeRole(role, account);
        if (role == COUNTY_ROLE) {
            uint32 county = _countyOf[account];
            delete _countyOf[account];
            emit CountyDeregistered(account, county);
        } else if (role == ORG_ROLE) {
            bytes32 orgCode = _orgCodeOf[account];
            delete _orgCodeOf[account];
            emit OrganizationDeregistered(account, orgCode);
        } else {
            emit AuditorDeregistered(account);
        }
    }

    /// @dev ADMIN_ROLE follows DEFAULT_ADMIN_ROLE: granted with it (at deployment and when a
    /// transfer is accepted), revoked with it.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        granted = super._grantRole(role, account);
        if (role == DEFAULT_ADMIN_ROLE) super._grantRole(ADMIN_ROLE, account);
    }

    /// @dev See `_grantRole`.
    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (role == DEFAULT_ADMIN_ROLE) super._revokeRole(ADMIN_ROLE, account);
    }

    function _checkProjectAnchor(ProjectAnchor calldata anchor, address signer) internal view {
        if (anchor.category == 0 || anchor.category > CATEGORY_COUNT) {
            revert InvalidCategory(anchor.projectId, anchor.category);
        }
        if (!_isTitle(bytes(anchor.title))) revert InvalidTitle(anchor.projectId);
        if (anchor.budget > MAX_QUANTITY) revert InvalidBudget(anchor.projectId, anchor.budget);
        if (!_isDate(anchor.endDate)) revert InvalidEndDate(anchor.projectId, anchor.endDate);
        if (anchor.projectKind == PROJECT_NEED) {
            _requireRole(COUNTY_ROLE, signer);
            if (_countyOf[signer] != anchor.county) revert WrongCounty(signer, anchor.county, _countyOf[signer]);
        } else if (anchor.projectKind == PROJECT_SUPPLY) {
            _requireRole(ORG_ROLE, signer);
            if (anchor.county != 0 && (anchor.county < 100000 || anchor.county > 999999)) {
                revert InvalidCountyCode(anchor.county);
            }
        } else {
            revert InvalidProjectKind(anchor.projectId, anchor.projectKind);
        }
        ProjectState storage project = _projects[anchor.projectId];
        if (project.version == 0 && address(bytes20(anchor.projectId)) != signer) {
            revert ProjectIdNotScoped(anchor.projectId, signer);
        }
        if (project.version != 0) {
            if (project.owner != signer) revert NotProjectOwner(anchor.projectId, project.owner, signer);
            if (project.projectKind != anchor.projectKind) {
                revert ProjectKindChanged(anchor.projectId, project.projectKind, anchor.projectKind);
            }
            if (project.county != anchor.county) {
                revert ProjectCountyChanged(anchor.projectId, project.county, anchor.county);
            }
        }
        // Cannot overflow in practice: 2**32 versions of one project cannot be signed.
        unchecked {
            if (anchor.version != project.version + 1) {
                revert WrongProjectVersion(anchor.projectId, project.version + 1, anchor.version);
            }
        }
    }

    /// @dev Adds `quantity` to a commitment's delivered total, owned by `signer`, within bounds.
    function _deliver(bytes32 commitmentId, uint128 quantity, address signer) internal {
        CommitmentState storage commitment = _commitments[commitmentId];
        if (commitment.quantity == 0) revert UnknownCommitment(commitmentId);
        if (commitment.org != signer) revert NotCommitmentOwner(commitmentId, commitment.org, signer);
        uint256 wouldBe = uint256(commitment.delivered) + quantity;
        if (wouldBe > commitment.quantity) revert OverDelivery(commitmentId, commitment.quantity, wouldBe);
        // Cannot truncate: wouldBe is at most commitment.quantity, a uint128.
        commitment.delivered = uint128(wouldBe);
    }

    /// @dev One pass, O(n): ids strictly increase, so none repeats without a nested loop.
    function _deliverBatch(DeliveryBatch calldata batch, address signer) internal returns (uint128 total) {
        uint256 n = batch.commitmentIds.length;
        if (n == 0 || batch.lineCount == 0) revert EmptyBatch(batch.id);
        if (n != batch.quantities.length) revert BatchLengthMismatch(batch.id, n, batch.quantities.length);
        if (n > MAX_BATCH_COMMITMENTS) revert TooManyCommitments(batch.id, n, MAX_BATCH_COMMITMENTS);
        uint256 sum = 0;
        bytes32 previous;
        for (uint256 i = 0; i < n; ++i) {
            bytes32 id = batch.commitmentIds[i];
            if (i > 0 && id <= previous) revert CommitmentsNotSorted(batch.id, i);
            previous = id;
            uint128 quantity = batch.quantities[i];
            if (quantity == 0) revert InvalidQuantity(batch.id, 0);
            _deliver(id, quantity, signer);
            sum += quantity;
        }
        // Cannot truncate: _deliver bounds each quantity by its commitment's, at most
        // MAX_QUANTITY (2**63-1), and there are at most 256 of them, so sum < 2**71.
        return uint128(sum);
    }

    /// @dev EIP-712 hashes a `string` member as keccak256 of its bytes.
    function _hashProjectAnchor(ProjectAnchor calldata anchor) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                PROJECT_ANCHOR_TYPEHASH,
                anchor.id,
                anchor.projectId,
                anchor.projectKind,
                anchor.county,
                anchor.category,
                keccak256(bytes(anchor.title)),
                anchor.budget,
                anchor.endDate,
                anchor.contentHash,
                anchor.version
            )
        );
    }

    /// @dev True for 1..MAX_TITLE_BYTES bytes of well-formed UTF-8 (titles and names) (Unicode 15, table 3-7:
    /// no overlong forms, no surrogates, nothing above U+10FFFF), so every reader decodes it.
    function _isTitle(bytes calldata title) internal pure returns (bool) {
        uint256 n = title.length;
        if (n == 0 || n > MAX_TITLE_BYTES) return false;
        uint256 i = 0;
        while (i < n) {
            uint8 b = uint8(title[i]);
            if (b < 0x80) {
                ++i;
                continue;
            }
            uint256 extra;
            uint8 lo = 0x80;
            uint8 hi = 0xBF;
            if (b >= 0xC2 && b <= 0xDF) {
                extra = 1;
            } else if (b >= 0xE0 && b <= 0xEF) {
                extra = 2;
                if (b == 0xE0) lo = 0xA0;
                else if (b == 0xED) hi = 0x9F;
            } else if (b >= 0xF0 && b <= 0xF4) {
                extra = 3;
                if (b == 0xF0) lo = 0x90;
                else if (b == 0xF4) hi = 0x8F;
            } else {
                return false;
            }
            if (i + extra >= n) return false;
            uint8 second = uint8(title[i + 1]);
            if (second < lo || second > hi) return false;
            for (uint256 k = 2; k <= extra; ++k) {
                uint8 c = uint8(title[i + k]);
                if (c < 0x80 || c > 0xBF) return false;
            }
            i += extra + 1;
        }
        return true;
    }

    /// @dev True for 0 (no date) or YYYYMMDD with a month 01..12 and a day 01..31.
    function _isDate(uint32 date) internal pure returns (bool) {
        if (date == 0) return true;
        if (date < 10000101 || date > 99991231) return false;
        uint32 month = (date / 100) % 100;
        uint32 day = date % 100;
        return month >= 1 && month <= 12 && day >= 1 && day <= 31;
    }

    function _hashDeliveryBatch(DeliveryBatch calldata batch) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                DELIVERY_BATCH_TYPEHASH,
                batch.id,
                keccak256(abi.encodePacked(batch.commitmentIds)),
                keccak256(abi.encodePacked(batch.quantities)),
                batch.lineCount,
                batch.batchRoot,
                batch.evidenceHash
            )
        );
    }

    /// @dev Marks the id used and appends the record's canonical bytes to the log.
    function _append(bytes32 id, uint8 kind, address signer, bytes memory fields, bytes calldata signature) internal {
        _recordKinds[id] = kind;
        bytes memory record =
            abi.encodePacked(FORMAT_VERSION, kind, block.chainid, address(this), signer, fields, signature);
        bytes32 leaf = MerkleLog.leafHash(record);
        uint256 index = _log.append(leaf);
        emit RecordAppended(index, id, kind, leaf, record);
    }
}
