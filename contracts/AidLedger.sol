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
    uint8 internal constant KIND_PAIRING = 7;
    uint8 internal constant KIND_PAIRING_ACCEPTANCE = 8;
    uint8 internal constant KIND_FUND = 9;
    uint8 internal constant KIND_FUND_CONTRIBUTION = 10;
    uint8 internal constant KIND_COMMITMENT_SOURCE = 11;
    uint8 internal constant KIND_FOLLOW_UP_ROUND = 12;
    uint8 internal constant KIND_FOLLOW_UP = 13;
    uint8 internal constant KIND_GRIEVANCE = 14;
    uint8 internal constant KIND_GRIEVANCE_ANSWER = 15;
    /// @dev Follow-up outcomes: 1 in full, 2 in part, 3 not received, 4 household not found.
    uint8 internal constant FOLLOW_UP_PART = 2;
    uint8 internal constant FOLLOW_UP_OUTCOMES = 4;
    /// @dev Grievance answers: 1 upheld, 2 partly upheld, 3 not upheld.
    uint8 internal constant GRIEVANCE_OUTCOMES = 3;
    uint8 internal constant SPONSOR_KINDS = 2;
    uint16 internal constant MAX_RATE_BPS = 10000;
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

    bytes32 internal constant PAIRING_TYPEHASH = keccak256(
        "Pairing(bytes32 id,uint32 county,uint32 startDate,uint32 endDate,uint16 categories,uint128 fundsTarget,uint32 projectsTarget,uint32 hoursTarget,bool designated,bytes32 termsHash)"
    );
    bytes32 internal constant PAIRING_ACCEPTANCE_TYPEHASH =
        keccak256("PairingAcceptance(bytes32 id,bytes32 pairingId,uint32 county)");
    bytes32 internal constant FUND_TYPEHASH = keccak256(
        "Fund(bytes32 id,string name,uint8 sponsorKind,bytes32 sponsorHash,bool sponsorPublic,uint128 pledged,bytes32 purposeHash)"
    );
    bytes32 internal constant FUND_CONTRIBUTION_TYPEHASH = keccak256(
        "FundContribution(bytes32 id,bytes32 fundId,uint128 amount,uint32 receivedDate,bytes32 evidenceHash)"
    );
    bytes32 internal constant COMMITMENT_SOURCE_TYPEHASH = keccak256(
        "CommitmentSource(bytes32 id,bytes32 commitmentId,bytes32 pairingId,bytes32 fundId,uint128 fundAmount)"
    );
    bytes32 internal constant FOLLOW_UP_ROUND_TYPEHASH = keccak256(
        "FollowUpRound(bytes32 id,bytes32 batchId,uint32 county,uint64 seedBlock,uint16 rateBps)"
    );
    bytes32 internal constant FOLLOW_UP_TYPEHASH = keccak256(
        "FollowUp(bytes32 id,bytes32 roundId,uint32 lineIndex,bytes32 lineHash,uint8 outcome,uint128 quantity,bytes32 noteHash)"
    );
    bytes32 internal constant GRIEVANCE_TYPEHASH = keccak256(
        "Grievance(bytes32 id,bytes32 projectId,bytes32 recordId,bytes32 grievanceHash,uint64 filedAt)"
    );
    bytes32 internal constant GRIEVANCE_ANSWER_TYPEHASH =
        keccak256("GrievanceAnswer(bytes32 id,bytes32 grievanceId,uint8 outcome,bytes32 answerHash)");

    struct ProjectState {
        address owner;
        uint32 version;
        uint32 county;
        uint8 projectKind;
    }

    struct CommitmentState {
        address org;
        uint32 county;
        uint8 resourceKind;
        uint128 quantity;
        uint128 delivered;
        uint128 confirmed;
    }

    struct DeliveryState {
        // For a batch, its single commitment, or zero when it serves several.
        bytes32 commitmentId;
        uint128 quantity;
        bool receipted;
        // For a batch, its line count (0 for a single delivery).
        uint32 lineCount;
    }

    struct PairingState {
        address org;
        uint32 county;
        bool accepted;
    }

    struct FundState {
        address org;
        uint128 pledged;
        uint128 committed;
    }

    struct RoundState {
        uint32 county;
        uint32 lineCount;
    }

    struct GrievanceState {
        uint32 county;
        bool answered;
    }

    MerkleLog.Log private _log;
    mapping(bytes32 id => uint8 kind) private _recordKinds;
    mapping(bytes32 projectId => ProjectState) private _projects;
    mapping(bytes32 commitmentId => CommitmentState) private _commitments;
    mapping(bytes32 deliveryId => DeliveryState) private _deliveries;
    mapping(address account => uint32 county) private _countyOf;
    mapping(address account => bytes32 orgCode) private _orgCodeOf;
    mapping(bytes32 pairingId => PairingState) private _pairings;
    mapping(bytes32 fundId => FundState) private _funds;
    mapping(bytes32 roundId => RoundState) private _rounds;
    // Used once: a commitment id (its source), keccak256(batchId, county) (a follow-up round),
    // keccak256(roundId, lineIndex) (a follow-up result).
    mapping(bytes32 key => bool) private _taken;
    mapping(bytes32 grievanceId => GrievanceState) private _grievances;
    uint16 private _followUpRate;

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
    function setFollowUpRate(uint16 rateBps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (rateBps > MAX_RATE_BPS) revert InvalidRate(rateBps);
        _followUpRate = rateBps;
        emit FollowUpRateSet(rateBps);
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
    function submitDeliveryBatch(DeliveryBatch calldata batch, bytes calldata signature) external {
        address signer = _recoverSigner(_hashDeliveryBatch(batch), batch.id, signature);
        _requireRole(ORG_ROLE, signer);
        uint128 total = _deliverBatch(batch, signer);
        bytes32 single = batch.commitmentIds.length == 1 ? batch.commitmentIds[0] : bytes32(0);
        _deliveries[batch.id] = DeliveryState(single, total, false, batch.lineCount);
        _append(batch.id, KIND_DELIVERY_BATCH, signer, abi.encode(batch), signature);
        emit DeliveryBatchRecorded(batch.id, signer, batch.lineCount, batch.batchRoot);
    }

    // ------------------------------------------------------------------ programs (docs/programs.md)

    /// @inheritdoc IAidLedger
    function submitFund(Fund calldata fund, bytes calldata signature) external {
        address signer = _recoverSigner(_hashFund(fund), fund.id, signature);
        _requireRole(ORG_ROLE, signer);
        if (!_isTitle(bytes(fund.name))) revert InvalidFundName(fund.id);
        if (fund.sponsorKind == 0 || fund.sponsorKind > SPONSOR_KINDS) {
            revert InvalidSponsorKind(fund.id, fund.sponsorKind);
        }
        _requireQuantity(fund.id, fund.pledged);
        _funds[fund.id] = FundState(signer, fund.pledged, 0);
        _append(fund.id, KIND_FUND, signer, abi.encode(fund), signature);
    }

    /// @inheritdoc IAidLedger
    function submitRecord(uint8 kind, bytes calldata fields, bytes calldata signature) external {
        bytes32 typehash = _checkFields(kind, fields);
        bytes32 id = _b32(fields, 0);
        address signer = _recoverSigner(keccak256(abi.encodePacked(typehash, fields)), id, signature);
        if (kind == KIND_COMMITMENT) _commitment(fields, signer);
        else if (kind == KIND_DELIVERY) _delivery(fields, signer);
        else if (kind == KIND_RECEIPT) _receipt(fields, signer);
        else if (kind == KIND_FLAG) _flag(fields, signer);
        else if (kind == KIND_PAIRING) _pairing(fields, signer);
        else if (kind == KIND_PAIRING_ACCEPTANCE) _pairingAcceptance(fields, signer);
        else if (kind == KIND_FUND_CONTRIBUTION) _fundContribution(fields, signer);
        else if (kind == KIND_COMMITMENT_SOURCE) _commitmentSource(fields, signer);
        else if (kind == KIND_FOLLOW_UP_ROUND) _followUpRound(fields, signer);
        else if (kind == KIND_FOLLOW_UP) _followUp(fields, signer);
        else if (kind == KIND_GRIEVANCE) _grievance(fields, signer);
        else _grievanceAnswer(fields, signer);
        _append(id, kind, signer, fields, signature);
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

    /// @inheritdoc IAidLedger
    function followUpRate() external view returns (uint16) {
        return _followUpRate;
    }

    /// @inheritdoc IAidLedger
    function fundTotals(bytes32 fundId) external view returns (uint128 pledged, uint128 committed) {
        FundState storage fund = _funds[fundId];
        return (fund.pledged, fund.committed);
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

    /// @dev The signer is the county office of `county`.
    function _requireCounty(address signer, uint32 county) internal view {
        if (_countyOf[signer] != county) revert WrongCounty(signer, county, _countyOf[signer]);
    }

    function _requireCountyCode(uint32 county) internal pure {
        if (county < 100000 || county > 999999) revert InvalidCountyCode(county);
    }

    function _requireQuantity(bytes32 id, uint128 quantity) internal pure {
        if (quantity == 0 || quantity > MAX_QUANTITY) revert InvalidQuantity(id, quantity);
    }

    function _ownedFund(bytes32 fundId, address signer) internal view returns (FundState storage fund) {
        fund = _funds[fundId];
        if (fund.org == address(0)) revert UnknownFund(fundId);
        if (fund.org != signer) revert NotFundOwner(fundId, fund.org, signer);
    }

    /// @dev Checks that `fields` is `abi.encode` of the kind's struct with every word canonical
    /// (a uintN or bool word holds no higher bits), so that its record bytes parse back to
    /// the same struct; returns the kind's EIP-712 typehash. These structs have static
    /// members only, so their EIP-712 `encodeData` is exactly `fields`.
    function _checkFields(uint8 kind, bytes calldata fields) internal pure returns (bytes32 typehash) {
        // The member count in the top byte; below it one byte per member, from the lowest:
        // its bit width, or 0 for bytes32.
        uint256 layout;
        if (kind == KIND_COMMITMENT) (typehash, layout) = (COMMITMENT_TYPEHASH, 0x800000000000000000000000000000000000000000000000040008008000000);
        else if (kind == KIND_DELIVERY) (typehash, layout) = (DELIVERY_TYPEHASH, 0x700000000000000000000000000000000000000000000000000200040800000);
        else if (kind == KIND_RECEIPT) (typehash, layout) = (RECEIPT_TYPEHASH, 0x400000000000000000000000000000000000000000000000000000000800000);
        else if (kind == KIND_FLAG) (typehash, layout) = (FLAG_TYPEHASH, 0x400000000000000000000000000000000000000000000000000000000100000);
        else if (kind == KIND_PAIRING) (typehash, layout) = (PAIRING_TYPEHASH, 0xa00000000000000000000000000000000000000000000012020801020202000);
        else if (kind == KIND_PAIRING_ACCEPTANCE) (typehash, layout) = (PAIRING_ACCEPTANCE_TYPEHASH, 0x300000000000000000000000000000000000000000000000000000000200000);
        else if (kind == KIND_FUND_CONTRIBUTION) (typehash, layout) = (FUND_CONTRIBUTION_TYPEHASH, 0x500000000000000000000000000000000000000000000000000000020800000);
        else if (kind == KIND_COMMITMENT_SOURCE) (typehash, layout) = (COMMITMENT_SOURCE_TYPEHASH, 0x500000000000000000000000000000000000000000000000000008000000000);
        else if (kind == KIND_FOLLOW_UP_ROUND) (typehash, layout) = (FOLLOW_UP_ROUND_TYPEHASH, 0x500000000000000000000000000000000000000000000000000001040200000);
        else if (kind == KIND_FOLLOW_UP) (typehash, layout) = (FOLLOW_UP_TYPEHASH, 0x700000000000000000000000000000000000000000000000000800800200000);
        else if (kind == KIND_GRIEVANCE) (typehash, layout) = (GRIEVANCE_TYPEHASH, 0x500000000000000000000000000000000000000000000000000004000000000);
        else if (kind == KIND_GRIEVANCE_ANSWER) (typehash, layout) = (GRIEVANCE_ANSWER_TYPEHASH, 0x400000000000000000000000000000000000000000000000000000000080000);
        else revert UnknownKind(kind);
        uint256 members = layout >> 248;
        if (fields.length != members * 32) revert MalformedFields(kind, fields.length);
        for (uint256 i = 0; i < members; ++i) {
            uint256 bits = (layout >> (8 * i)) & 0xff;
            if (bits != 0 && _word(fields, i) >> bits != 0) revert MalformedFields(kind, i);
        }
    }

    function _word(bytes calldata fields, uint256 i) internal pure returns (uint256) {
        return uint256(bytes32(fields[i * 32:i * 32 + 32]));
    }

    function _b32(bytes calldata fields, uint256 i) internal pure returns (bytes32) {
        return bytes32(fields[i * 32:i * 32 + 32]);
    }

    /// @dev Commitment: id, needId, matchId, resourceKind, quantity, unit, dueDate, termsHash.
    function _commitment(bytes calldata f, address signer) internal {
        _requireRole(ORG_ROLE, signer);
        bytes32 id = _b32(f, 0);
        bytes32 needId = _b32(f, 1);
        ProjectState storage need = _projects[needId];
        if (need.version == 0 || need.projectKind != PROJECT_NEED) revert UnknownNeed(needId);
        uint128 quantity = uint128(_word(f, 4));
        _requireQuantity(id, quantity);
        uint8 resourceKind = uint8(_word(f, 3));
        if (resourceKind == 0 || resourceKind > RESOURCE_KIND_COUNT) revert InvalidResourceKind(id, resourceKind);
        CommitmentState storage state = _commitments[id];
        state.org = signer;
        state.county = need.county;
        state.resourceKind = resourceKind;
        state.quantity = quantity;
        emit CommitmentRecorded(id, needId, signer, quantity);
    }

    /// @dev Delivery: id, commitmentId, quantity, deliveredAt, evidenceHash, beneficiaryCount,
    /// beneficiaryRoot.
    function _delivery(bytes calldata f, address signer) internal {
        _requireRole(ORG_ROLE, signer);
        bytes32 id = _b32(f, 0);
        bytes32 commitmentId = _b32(f, 1);
        uint128 quantity = uint128(_word(f, 2));
        if (quantity == 0) revert InvalidQuantity(id, 0);
        _deliver(commitmentId, quantity, signer);
        _deliveries[id] = DeliveryState(commitmentId, quantity, false, 0);
        emit DeliveryRecorded(id, commitmentId, signer, quantity);
    }

    /// @dev Receipt: id, deliveryId, confirmedQuantity, noteHash.
    function _receipt(bytes calldata f, address signer) internal {
        _requireRole(COUNTY_ROLE, signer);
        bytes32 deliveryId = _b32(f, 1);
        uint128 confirmed = uint128(_word(f, 2));
        DeliveryState storage delivery = _deliveries[deliveryId];
        if (delivery.quantity == 0) revert UnknownDelivery(deliveryId);
        if (delivery.commitmentId == bytes32(0)) revert BatchReceiptNeedsSingleCommitment(deliveryId);
        if (delivery.receipted) revert AlreadyReceipted(deliveryId);
        if (confirmed > delivery.quantity) revert OverConfirmation(deliveryId, delivery.quantity, confirmed);
        CommitmentState storage commitment = _commitments[delivery.commitmentId];
        // Unreachable while roles stay exclusive; it also holds for a key that was once an ORG.
        if (commitment.org == signer) revert SelfReceipt(deliveryId, signer);
        _requireCounty(signer, commitment.county);
        delivery.receipted = true;
        commitment.confirmed += confirmed;
        emit ReceiptRecorded(_b32(f, 0), deliveryId, signer, confirmed);
    }

    /// @dev Flag: id, recordId, reasonCode, noteHash.
    function _flag(bytes calldata f, address signer) internal {
        _requireRole(AUDITOR_ROLE, signer);
        bytes32 recordId = _b32(f, 1);
        if (_recordKinds[recordId] == 0) revert UnknownRecord(recordId);
        emit FlagRaised(_b32(f, 0), recordId, signer, uint16(_word(f, 2)));
    }

    /// @dev Pairing: id, county, startDate, endDate, categories, fundsTarget, projectsTarget,
    /// hoursTarget, designated, termsHash.
    function _pairing(bytes calldata f, address signer) internal {
        _requireRole(ORG_ROLE, signer);
        bytes32 id = _b32(f, 0);
        uint32 county = uint32(_word(f, 1));
        _requireCountyCode(county);
        uint32 start = uint32(_word(f, 2));
        uint32 end = uint32(_word(f, 3));
        if (start == 0 || !_isDate(start) || !_isDate(end) || end < start) revert InvalidPeriod(id, start, end);
        uint16 categories = uint16(_word(f, 4));
        if (categories == 0 || categories >= uint16(1) << CATEGORY_COUNT) revert InvalidCategories(id, categories);
        if (_word(f, 5) > MAX_QUANTITY) revert InvalidQuantity(id, _word(f, 5));
        _pairings[id] = PairingState(signer, county, false);
    }

    /// @dev PairingAcceptance: id, pairingId, county.
    function _pairingAcceptance(bytes calldata f, address signer) internal {
        _requireRole(COUNTY_ROLE, signer);
        bytes32 pairingId = _b32(f, 1);
        PairingState storage pairing = _pairings[pairingId];
        if (pairing.org == address(0)) revert UnknownPairing(pairingId);
        _requireCounty(signer, pairing.county);
        if (uint32(_word(f, 2)) != pairing.county) revert WrongCounty(signer, pairing.county, uint32(_word(f, 2)));
        if (pairing.accepted) revert PairingAlreadyAccepted(pairingId);
        pairing.accepted = true;
    }

    /// @dev FundContribution: id, fundId, amount, receivedDate, evidenceHash.
    function _fundContribution(bytes calldata f, address signer) internal view {
        _requireRole(ORG_ROLE, signer);
        bytes32 id = _b32(f, 0);
        _ownedFund(_b32(f, 1), signer);
        _requireQuantity(id, uint128(_word(f, 2)));
        uint32 date = uint32(_word(f, 3));
        if (date == 0 || !_isDate(date)) revert InvalidPeriod(id, date, date);
    }

    /// @dev CommitmentSource: id, commitmentId, pairingId, fundId, fundAmount.
    function _commitmentSource(bytes calldata f, address signer) internal {
        _requireRole(ORG_ROLE, signer);
        bytes32 commitmentId = _b32(f, 1);
        CommitmentState storage commitment = _commitments[commitmentId];
        if (commitment.quantity == 0) revert UnknownCommitment(commitmentId);
        if (commitment.org != signer) revert NotCommitmentOwner(commitmentId, commitment.org, signer);
        if (_taken[commitmentId]) revert CommitmentAlreadySourced(commitmentId);
        bytes32 pairingId = _b32(f, 2);
        bytes32 fundId = _b32(f, 3);
        uint128 amount = uint128(_word(f, 4));
        if ((pairingId == bytes32(0) && fundId == bytes32(0)) || (fundId == bytes32(0)) != (amount == 0)) {
            revert EmptySource(_b32(f, 0));
        }
        if (pairingId != bytes32(0)) _citePairing(pairingId, signer, commitment.county);
        if (fundId != bytes32(0)) _drawFund(_b32(f, 0), fundId, amount, commitment, signer);
        _taken[commitmentId] = true;
    }

    /// @dev FollowUpRound: id, batchId, county, seedBlock, rateBps.
    function _followUpRound(bytes calldata f, address signer) internal {
        _requireRole(COUNTY_ROLE, signer);
        bytes32 id = _b32(f, 0);
        bytes32 batchId = _b32(f, 1);
        uint32 county = uint32(_word(f, 2));
        _requireCounty(signer, county);
        if (_recordKinds[batchId] != KIND_DELIVERY_BATCH) revert UnknownBatch(batchId);
        uint16 rate = uint16(_word(f, 4));
        if (rate == 0 || rate != _followUpRate) revert WrongFollowUpRate(id, _followUpRate, rate);
        uint64 seedBlock = uint64(_word(f, 3));
        if (seedBlock <= block.number) revert SeedBlockNotFuture(id, seedBlock, block.number);
        bytes32 key = keccak256(abi.encode(batchId, county));
        if (_taken[key]) revert FollowUpRoundExists(batchId, county);
        _taken[key] = true;
        _rounds[id] = RoundState(county, _deliveries[batchId].lineCount);
    }

    /// @dev FollowUp: id, roundId, lineIndex, lineHash, outcome, quantity, noteHash.
    function _followUp(bytes calldata f, address signer) internal {
        _requireRole(COUNTY_ROLE, signer);
        bytes32 roundId = _b32(f, 1);
        RoundState storage round = _rounds[roundId];
        if (round.county == 0) revert UnknownFollowUpRound(roundId);
        _requireCounty(signer, round.county);
        uint32 line = uint32(_word(f, 2));
        if (line >= round.lineCount) revert LineOutOfRange(roundId, line, round.lineCount);
        uint8 outcome = uint8(_word(f, 4));
        // A partial receipt states what arrived; every other outcome states no quantity.
        if (outcome == 0 || outcome > FOLLOW_UP_OUTCOMES || (outcome == FOLLOW_UP_PART) != (_word(f, 5) != 0)) {
            revert InvalidOutcome(_b32(f, 0), outcome);
        }
        bytes32 key = keccak256(abi.encode(roundId, line));
        if (_taken[key]) revert FollowUpRepeated(roundId, line);
        _taken[key] = true;
    }

    /// @dev Grievance: id, projectId, recordId, grievanceHash, filedAt.
    function _grievance(bytes calldata f, address signer) internal {
        _requireRole(COUNTY_ROLE, signer);
        bytes32 projectId = _b32(f, 1);
        ProjectState storage project = _projects[projectId];
        if (project.version == 0 || project.projectKind != PROJECT_NEED) revert UnknownNeed(projectId);
        _requireCounty(signer, project.county);
        bytes32 recordId = _b32(f, 2);
        if (recordId != bytes32(0) && _recordKinds[recordId] == 0) revert UnknownRecord(recordId);
        _grievances[_b32(f, 0)] = GrievanceState(project.county, false);
    }

    /// @dev GrievanceAnswer: id, grievanceId, outcome, answerHash.
    function _grievanceAnswer(bytes calldata f, address signer) internal {
        _requireRole(COUNTY_ROLE, signer);
        bytes32 grievanceId = _b32(f, 1);
        GrievanceState storage grievance = _grievances[grievanceId];
        if (grievance.county == 0) revert UnknownGrievance(grievanceId);
        _requireCounty(signer, grievance.county);
        if (grievance.answered) revert GrievanceAlreadyAnswered(grievanceId);
        uint8 outcome = uint8(_word(f, 2));
        if (outcome == 0 || outcome > GRIEVANCE_OUTCOMES) revert InvalidOutcome(_b32(f, 0), outcome);
        grievance.answered = true;
    }

    /// @dev A commitment may cite an accepted pairing of its own organization in its county.
    function _citePairing(bytes32 pairingId, address signer, uint32 county) internal view {
        PairingState storage pairing = _pairings[pairingId];
        if (pairing.org == address(0)) revert UnknownPairing(pairingId);
        if (pairing.org != signer) revert NotPairingParty(pairingId, signer);
        if (!pairing.accepted) revert PairingNotAccepted(pairingId);
        if (pairing.county != county) revert PairingCountyMismatch(pairingId, pairing.county, county);
    }

    /// @dev Draws `amount` fen of a fund for a commitment; a funds commitment draws at most
    /// its quantity, and a fund never commits more than was pledged to it.
    function _drawFund(bytes32 id, bytes32 fundId, uint128 amount, CommitmentState storage commitment, address signer)
        internal
    {
        FundState storage fund = _ownedFund(fundId, signer);
        if (commitment.resourceKind == 1 && amount > commitment.quantity) revert InvalidQuantity(id, amount);
        uint256 wouldBe = uint256(fund.committed) + amount;
        if (wouldBe > fund.pledged) revert FundOverCommitted(fundId, fund.pledged, wouldBe);
        // Cannot truncate: wouldBe is at most fund.pledged, a uint128.
        fund.committed = uint128(wouldBe);
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

    function _hashFund(Fund calldata fund) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                FUND_TYPEHASH,
                fund.id,
                keccak256(bytes(fund.name)),
                fund.sponsorKind,
                fund.sponsorHash,
                fund.sponsorPublic,
                fund.pledged,
                fund.purposeHash
            )
        );
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
