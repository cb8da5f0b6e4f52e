// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IAidLedger
/// @notice The Bangfu Ledger (帮扶链): aid records signed by their authors (EIP-712), each
/// appended as a leaf of one RFC 9162 Merkle log that this contract maintains.
/// @dev Anyone may submit a record and pay its gas; the contract checks the author's
/// signature and role. Every record's id is inside its signed struct and can be used once.
interface IAidLedger {
    // ------------------------------------------------------------------ record kinds
    /// @dev Kind numbers, as they appear in `RecordAppended` and in canonical record bytes.
    /// 1 ProjectAnchor, 2 Commitment, 3 Delivery, 4 Receipt, 5 Flag, 6 DeliveryBatch,
    /// 7 Pairing, 8 PairingAcceptance, 9 Fund, 10 FundContribution, 11 CommitmentSource,
    /// 12 FollowUpRound, 13 FollowUp, 14 Grievance, 15 GrievanceAnswer (docs/programs.md).

    /// @notice A version of a need (projectKind 1) or supply (projectKind 2) project.
    /// Need projects are signed by their county, supply projects by their organization.
    /// The human-readable fields (title, budget, end date) are signed beside the content
    /// hash, so that a wallet shows what is being signed.
    /// @dev `projectId` starts with its owner's address (`bytes20(projectId) == owner`).
    /// `title` is UTF-8, 1..200 bytes. `budget` is in fen (a need's budget; a supply's funds
    /// capacity, or 0). `endDate` is a calendar date in Beijing time as YYYYMMDD (a need's
    /// deadline, a supply's period end), or 0 for none.
    struct ProjectAnchor {
        bytes32 id;
        bytes32 projectId;
        uint8 projectKind;
        uint32 county;
        uint8 category;
        string title;
        uint128 budget;
        uint32 endDate;
        bytes32 contentHash;
        uint32 version;
    }

    /// @notice An organization's promise of funds (1, fen), goods (2) or services (3, hours)
    /// for a need it has an accepted match on.
    /// @dev The match rule (`matchId` names a 点单/接单 match the county accepted) is not
    /// enforced on chain: matches are off-chain agreements with no on-chain state to check
    /// against. The relayer refuses a commitment without an accepted match, and the audit
    /// (`bangfu audit`) re-checks every commitment on chain against the library's matches.
    struct Commitment {
        bytes32 id;
        bytes32 needId;
        bytes32 matchId;
        uint8 resourceKind;
        uint128 quantity;
        bytes32 unit;
        uint64 dueDate;
        bytes32 termsHash;
    }

    /// @notice Part of a commitment, delivered; signed by the committing organization.
    struct Delivery {
        bytes32 id;
        bytes32 commitmentId;
        uint128 quantity;
        uint64 deliveredAt;
        bytes32 evidenceHash;
        uint32 beneficiaryCount;
        bytes32 beneficiaryRoot;
    }

    /// @notice The need's county confirms a delivery (or a single-commitment batch).
    struct Receipt {
        bytes32 id;
        bytes32 deliveryId;
        uint128 confirmedQuantity;
        bytes32 noteHash;
    }

    /// @notice An auditor's note on any record.
    struct Flag {
        bytes32 id;
        bytes32 recordId;
        uint16 reasonCode;
        bytes32 noteHash;
    }

    /// @notice Many delivery lines as one record: the root of their RFC 9162 tree, and the
    /// total quantity the lines deliver against each commitment.
    /// @dev `commitmentIds` are strictly increasing (so none repeats), at most
    /// `MAX_BATCH_COMMITMENTS` of them, one quantity each.
    struct DeliveryBatch {
        bytes32 id;
        bytes32[] commitmentIds;
        uint128[] quantities;
        uint32 lineCount;
        bytes32 batchRoot;
        bytes32 evidenceHash;
    }

    /// @notice An organization's proposal to pair with a county (结对帮扶) for a period, with
    /// focus categories and targets; it binds both sides once the county accepts it.
    /// @dev `categories` has bit (c-1) set for each focus category c in 1..10. Dates are
    /// YYYYMMDD in Beijing time, `startDate <= endDate`. `fundsTarget` is in fen.
    /// `designated` marks designated assistance (定点帮扶).
    struct Pairing {
        bytes32 id;
        uint32 county;
        uint32 startDate;
        uint32 endDate;
        uint16 categories;
        uint128 fundsTarget;
        uint32 projectsTarget;
        uint32 hoursTarget;
        bool designated;
        bytes32 termsHash;
    }

    /// @notice The county office's acceptance of a pairing proposed for its county.
    struct PairingAcceptance {
        bytes32 id;
        bytes32 pairingId;
        uint32 county;
    }

    /// @notice A special fund (专项基金) an organization opens inside itself for a sponsor.
    /// @dev The sponsor's name never goes on chain: `sponsorHash` is SHA-256 of a salt and the
    /// name, kept off chain; `sponsorPublic` records the sponsor's consent to show the name.
    /// `sponsorKind` is 1 (a company) or 2 (an individual). `pledged` is in fen.
    struct Fund {
        bytes32 id;
        string name;
        uint8 sponsorKind;
        bytes32 sponsorHash;
        bool sponsorPublic;
        uint128 pledged;
        bytes32 purposeHash;
    }

    /// @notice Money a fund received from its sponsor, recorded by the fund's organization.
    struct FundContribution {
        bytes32 id;
        bytes32 fundId;
        uint128 amount;
        uint32 receivedDate;
        bytes32 evidenceHash;
    }

    /// @notice What a commitment comes from: the pairing it serves and/or the fund it draws
    /// `fundAmount` fen from. One per commitment, signed by the commitment's organization.
    /// @dev A fund's commitments never exceed its pledges (`FundOverCommitted`).
    struct CommitmentSource {
        bytes32 id;
        bytes32 commitmentId;
        bytes32 pairingId;
        bytes32 fundId;
        uint128 fundAmount;
    }

    /// @notice A county opens the follow-up (回访) of a delivery batch. The sample is drawn
    /// from the hash of block `seedBlock`, which must lie in the future when the round is
    /// recorded, at the rate the admin set (`followUpRate`, in basis points).
    /// @dev The sample is the ceil(lineCount * rateBps / 10000) line indices i (at least one)
    /// with the smallest SHA-256(blockhash(seedBlock) ‖ batchId ‖ uint32 i); it is computed
    /// off chain (blockhash is visible to contracts for 256 blocks only), and the relayer and
    /// the audit refuse a follow-up of a line outside it. One round per batch and county.
    struct FollowUpRound {
        bytes32 id;
        bytes32 batchId;
        uint32 county;
        uint64 seedBlock;
        uint16 rateBps;
    }

    /// @notice The county's signed result of visiting one sampled household (a batch line).
    /// @dev `outcome`: 1 received in full, 2 received in part (`quantity` received),
    /// 3 not received, 4 household not found. `lineHash` is the line's RFC 9162 leaf hash in
    /// the batch tree; it carries the pseudonym only, never personal data.
    struct FollowUp {
        bytes32 id;
        bytes32 roundId;
        uint32 lineIndex;
        bytes32 lineHash;
        uint8 outcome;
        uint128 quantity;
        bytes32 noteHash;
    }

    /// @notice A county registers a grievance (申诉) filed about one of its need projects,
    /// and optionally a record of it. `grievanceHash` is SHA-256 of the public grievance
    /// text as filed, which the filer's receipt also shows; contact details are not in it.
    struct Grievance {
        bytes32 id;
        bytes32 projectId;
        bytes32 recordId;
        bytes32 grievanceHash;
        uint64 filedAt;
    }

    /// @notice The county's answer to a grievance it registered: 1 upheld, 2 partly upheld,
    /// 3 not upheld; `answerHash` is SHA-256 of the public answer text.
    struct GrievanceAnswer {
        bytes32 id;
        bytes32 grievanceId;
        uint8 outcome;
        bytes32 answerHash;
    }

    // ------------------------------------------------------------------ errors
    /// @notice The signature does not recover to a signer (malformed or malleable high-s).
    error InvalidSignature(bytes32 id);
    /// @notice The record id was already used by an earlier record.
    error RecordIdUsed(bytes32 id);
    /// @notice A record id must start with its signer's address (`bytes20(id) == signer`),
    /// so that nobody who sees a pending record can use its id first.
    error RecordIdNotScoped(bytes32 id, address signer);
    /// @notice A new project's id must start with its owner's address.
    error ProjectIdNotScoped(bytes32 projectId, address owner);
    /// @notice A project title must be well-formed UTF-8 of 1..200 bytes.
    error InvalidTitle(bytes32 projectId);
    /// @notice A project budget must be at most 2**63-1 fen.
    error InvalidBudget(bytes32 projectId, uint128 budget);
    /// @notice A project end date must be 0 or a date written YYYYMMDD.
    error InvalidEndDate(bytes32 projectId, uint32 endDate);
    /// @notice The record's signer lacks the role this kind of record needs.
    error MissingRole(address signer, bytes32 role);
    /// @notice The signer's county is not the county the record concerns.
    error WrongCounty(address signer, uint32 expected, uint32 actual);
    /// @notice A project's category is not one of the notice's ten (1..10).
    error InvalidCategory(bytes32 projectId, uint8 category);
    /// @notice A project's kind is neither 1 (need) nor 2 (supply).
    error InvalidProjectKind(bytes32 projectId, uint8 projectKind);
    /// @notice A later version of a project changes its kind.
    error ProjectKindChanged(bytes32 projectId, uint8 expected, uint8 got);
    /// @notice A later version of a project changes its county.
    error ProjectCountyChanged(bytes32 projectId, uint32 expected, uint32 got);
    /// @notice A project's next version must be exactly one more than its last.
    error WrongProjectVersion(bytes32 projectId, uint32 expected, uint32 got);
    /// @notice Only the author of a project's first version may anchor later versions.
    error NotProjectOwner(bytes32 projectId, address owner, address signer);
    /// @notice No need project with this id is anchored.
    error UnknownNeed(bytes32 needId);
    /// @notice No commitment with this id is recorded.
    error UnknownCommitment(bytes32 commitmentId);
    /// @notice No delivery or delivery batch with this id is recorded.
    error UnknownDelivery(bytes32 deliveryId);
    /// @notice No record with this id is recorded.
    error UnknownRecord(bytes32 recordId);
    /// @notice Only the organization that made a commitment may deliver against it.
    error NotCommitmentOwner(bytes32 commitmentId, address owner, address signer);
    /// @notice Delivering this would take the commitment past what was committed.
    error OverDelivery(bytes32 commitmentId, uint256 committed, uint256 wouldBeDelivered);
    /// @notice A quantity is zero or above 2**63-1.
    error InvalidQuantity(bytes32 id, uint256 quantity);
    /// @notice A commitment's resource kind is not 1 (funds), 2 (goods) or 3 (services).
    error InvalidResourceKind(bytes32 id, uint8 resourceKind);
    /// @notice The receipt confirms more than was delivered.
    error OverConfirmation(bytes32 deliveryId, uint256 delivered, uint256 confirmed);
    /// @notice A delivery already has a receipt.
    error AlreadyReceipted(bytes32 deliveryId);
    /// @notice Nobody confirms their own delivery: the receipt's signer made the commitment.
    error SelfReceipt(bytes32 deliveryId, address signer);
    /// @notice A receipt may confirm a batch only when the batch serves one commitment.
    error BatchReceiptNeedsSingleCommitment(bytes32 batchId);
    /// @notice A batch has no commitment or no line.
    error EmptyBatch(bytes32 batchId);
    /// @notice A batch's commitments and quantities differ in length.
    error BatchLengthMismatch(bytes32 batchId, uint256 commitments, uint256 quantities);
    /// @notice A batch names more commitments than `MAX_BATCH_COMMITMENTS`.
    error TooManyCommitments(bytes32 batchId, uint256 count, uint256 max);
    /// @notice A batch's commitment ids are not strictly increasing (at `index`), so one may repeat.
    error CommitmentsNotSorted(bytes32 batchId, uint256 index);
    /// @notice A county code is not six digits (100000..999999).
    error InvalidCountyCode(uint32 county);
    /// @notice An organization code is empty.
    error InvalidOrgCode(address account);
    /// @notice An address may hold only one of COUNTY, ORG and AUDITOR, so that no one
    /// confirms (or audits) their own deliveries; `held` is the role it already has.
    error RoleConflict(address account, bytes32 held);
    /// @notice The account does not hold the role it is being deregistered from.
    error NotRegistered(address account, bytes32 role);
    /// @notice COUNTY, ORG and AUDITOR are granted and revoked only by the registration
    /// functions, which bind a county code or credit code to the key.
    error RoleManagedByRegistration(bytes32 role);
    /// @notice A registered name must be well-formed UTF-8 of 1..200 bytes.
    error InvalidName(address account);
    /// @notice An organization's type is not 1 (社会团体), 2 (民办非企业单位) or 3 (基金会).
    error InvalidOrgType(uint8 orgType);
    /// @notice A registering authority, when given, must be well-formed UTF-8 of 1..200 bytes.
    error InvalidAuthority(address account);

    /// @notice A pairing's or fund entry's dates are not valid YYYYMMDD, or end before they start.
    error InvalidPeriod(bytes32 id, uint32 startDate, uint32 endDate);
    /// @notice A pairing's focus categories are empty or name a category outside 1..10.
    error InvalidCategories(bytes32 id, uint16 categories);
    /// @notice No pairing with this id is recorded.
    error UnknownPairing(bytes32 pairingId);
    /// @notice The pairing was already accepted.
    error PairingAlreadyAccepted(bytes32 pairingId);
    /// @notice The pairing is not (yet) accepted by its county.
    error PairingNotAccepted(bytes32 pairingId);
    /// @notice Only the organization that proposed a pairing may cite it.
    error NotPairingParty(bytes32 pairingId, address signer);
    /// @notice The commitment's need lies in another county than the pairing's.
    error PairingCountyMismatch(bytes32 pairingId, uint32 pairingCounty, uint32 commitmentCounty);
    /// @notice A fund's name must be well-formed UTF-8 of 1..200 bytes.
    error InvalidFundName(bytes32 fundId);
    /// @notice A sponsor is 1 (a company) or 2 (an individual).
    error InvalidSponsorKind(bytes32 fundId, uint8 sponsorKind);
    /// @notice No fund with this id is recorded.
    error UnknownFund(bytes32 fundId);
    /// @notice Only the organization that opened a fund may record into it or draw on it.
    error NotFundOwner(bytes32 fundId, address owner, address signer);
    /// @notice Drawing this would commit more of the fund than was pledged to it.
    error FundOverCommitted(bytes32 fundId, uint256 pledged, uint256 wouldBeCommitted);
    /// @notice A commitment's source was already recorded.
    error CommitmentAlreadySourced(bytes32 commitmentId);
    /// @notice A commitment source names neither a pairing nor a fund, or a fund amount
    /// without a fund.
    error EmptySource(bytes32 id);
    /// @notice The follow-up rate must be at most 10000 basis points.
    error InvalidRate(uint16 rateBps);
    /// @notice A follow-up round's rate is not the rate the admin set (0: follow-ups are off).
    error WrongFollowUpRate(bytes32 id, uint16 expected, uint16 got);
    /// @notice A follow-up round's seed block must lie after the block that records it.
    error SeedBlockNotFuture(bytes32 id, uint64 seedBlock, uint256 currentBlock);
    /// @notice No delivery batch with this id is recorded.
    error UnknownBatch(bytes32 batchId);
    /// @notice This county already opened a follow-up round for this batch.
    error FollowUpRoundExists(bytes32 batchId, uint32 county);
    /// @notice No follow-up round with this id is recorded.
    error UnknownFollowUpRound(bytes32 roundId);
    /// @notice This batch line already has a follow-up result in this round.
    error FollowUpRepeated(bytes32 roundId, uint32 lineIndex);
    /// @notice A line index lies outside the batch.
    error LineOutOfRange(bytes32 roundId, uint32 lineIndex, uint32 lineCount);
    /// @notice An outcome is outside its kind's range, or its quantity does not fit it.
    error InvalidOutcome(bytes32 id, uint8 outcome);
    /// @notice `submitRecord` takes kinds 2..5, 7, 8 and 10..15 only.
    error UnknownKind(uint8 kind);
    /// @notice A program record's fields are not the canonical `abi.encode` of its struct
    /// (`at` is the length in bytes, or the index of a member out of its type's range).
    error MalformedFields(uint8 kind, uint256 at);
    /// @notice No grievance with this id is registered.
    error UnknownGrievance(bytes32 grievanceId);
    /// @notice The grievance already has an answer.
    error GrievanceAlreadyAnswered(bytes32 grievanceId);

    // ------------------------------------------------------------------ events
    /// @notice A county office's signing key was registered for a county, with the office's
    /// name (so that anyone reading the chain alone knows who signs for the county).
    event CountyRegistered(address indexed account, uint32 indexed county, string name);
    /// @notice A social organization's signing key was registered with its credit code, its
    /// name, its type (1 社会团体, 2 民办非企业单位, 3 基金会) and its registering authority
    /// (登记管理机关; empty when not given).
    event OrganizationRegistered(
        address indexed account, bytes32 indexed orgCode, string name, uint8 orgType, string authority
    );
    /// @notice An auditor's signing key was registered, with the auditor's name.
    event AuditorRegistered(address indexed account, string name);
    /// @notice A county office's signing key was deregistered (it may sign no more records).
    event CountyDeregistered(address indexed account, uint32 indexed county);
    /// @notice A social organization's signing key was deregistered.
    event OrganizationDeregistered(address indexed account, bytes32 indexed orgCode);
    /// @notice An auditor's signing key was deregistered.
    event AuditorDeregistered(address indexed account);
    /// @notice A record became leaf `index` of the log. `record` is its canonical bytes.
    event RecordAppended(uint256 indexed index, bytes32 indexed recordId, uint8 indexed kind, bytes32 leafHash, bytes record);
    /// @notice A project version was anchored.
    event ProjectAnchored(bytes32 indexed id, bytes32 indexed projectId, address indexed author, uint32 version);
    /// @notice A commitment was recorded.
    event CommitmentRecorded(bytes32 indexed id, bytes32 indexed needId, address indexed org, uint128 quantity);
    /// @notice A delivery was recorded.
    event DeliveryRecorded(bytes32 indexed id, bytes32 indexed commitmentId, address indexed org, uint128 quantity);
    /// @notice A receipt was recorded.
    event ReceiptRecorded(bytes32 indexed id, bytes32 indexed deliveryId, address indexed county, uint128 confirmedQuantity);
    /// @notice An audit flag was raised.
    event FlagRaised(bytes32 indexed id, bytes32 indexed recordId, address indexed auditor, uint16 reasonCode);
    /// @notice A delivery batch was recorded.
    event DeliveryBatchRecorded(bytes32 indexed id, address indexed org, uint32 lineCount, bytes32 batchRoot);
    /// @notice The admin set the follow-up rate (basis points of a batch's lines).
    event FollowUpRateSet(uint16 rateBps);


    // ------------------------------------------------------------------ administration
    /// @notice Registers `account` as the signing key of the county office of `county`
    /// (again, to move it to another county). Only the admin (the civil-affairs office).
    /// @dev Reverts with `RoleConflict` if `account` is an organization or an auditor.
    /// Reverts with `InvalidName` unless `name` is UTF-8 of 1..200 bytes.
    /// @param account the county office's signing address
    /// @param county the 6-digit GB/T 2260 county code
    /// @param name the county office's name, e.g. the county's name from GB/T 2260
    function registerCounty(address account, uint32 county, string calldata name) external;

    /// @notice Registers `account` as a social organization's signing key. Only the admin.
    /// @dev Reverts with `RoleConflict` if `account` is a county office or an auditor.
    /// Reverts with `InvalidName` unless `name` is UTF-8 of 1..200 bytes, with `InvalidOrgType`
    /// unless `orgType` is 1..3, with `InvalidAuthority` for a malformed authority. That the
    /// type agrees with the credit code's second character is checked off chain (Python).
    /// @param account the organization's signing address
    /// @param orgCode its 18-character unified social credit code, left-aligned in 32 bytes
    /// @param name the organization's registered name
    /// @param orgType 1 社会团体, 2 民办非企业单位 (社会服务机构), 3 基金会
    /// @param authority its registering authority (登记管理机关), or empty
    function registerOrganization(
        address account,
        bytes32 orgCode,
        string calldata name,
        uint8 orgType,
        string calldata authority
    ) external;

    /// @notice Registers `account` as an auditor's signing key. Only the admin.
    /// @dev Reverts with `RoleConflict` if `account` is a county office or an organization.
    /// Reverts with `InvalidName` unless `name` is UTF-8 of 1..200 bytes.
    /// @param account the auditor's signing address
    /// @param name the auditor's name
    function registerAuditor(address account, string calldata name) external;

    /// @notice Deregisters a county office's key: it signs no more records. Only the admin.
    /// @param account the county office's signing address
    function deregisterCounty(address account) external;

    /// @notice Deregisters an organization's key: it signs no more records. Only the admin.
    /// @param account the organization's signing address
    function deregisterOrganization(address account) external;

    /// @notice Deregisters an auditor's key: it signs no more flags. Only the admin.
    /// @param account the auditor's signing address
    function deregisterAuditor(address account) external;

    // ------------------------------------------------------------------ records
    /// @notice Appends a signed project version.
    /// @param anchor the project anchor
    /// @param signature the author's 65-byte EIP-712 signature (r, s, v)
    function submitProjectAnchor(ProjectAnchor calldata anchor, bytes calldata signature) external;





    /// @notice Appends a signed delivery batch as one leaf.
    /// @param batch the batch
    /// @param signature the organization's 65-byte EIP-712 signature
    function submitDeliveryBatch(DeliveryBatch calldata batch, bytes calldata signature) external;



    /// @notice Appends an organization's opening of a special fund.
    /// @param fund the fund
    /// @param signature the organization's 65-byte EIP-712 signature
    function submitFund(Fund calldata fund, bytes calldata signature) external;

    /// @notice Appends a signed record of a kind whose struct has static members only:
    /// 2 Commitment, 3 Delivery and 7 Pairing (an ORG); 4 Receipt (the need's COUNTY, never
    /// the committing ORG); 5 Flag (an AUDITOR); 8 PairingAcceptance (the pairing's COUNTY);
    /// 10 FundContribution (the fund's ORG); 11 CommitmentSource (the commitment's ORG);
    /// 12 FollowUpRound, 13 FollowUp, 14 Grievance and 15 GrievanceAnswer (the COUNTY
    /// concerned). The rules of each kind are on its struct above.
    /// @dev One entry point keeps the contract under the EIP-170 code size limit: `fields` is
    /// `abi.encode(struct)` of the kind's struct, which for a struct of static members is
    /// also its EIP-712 `encodeData`, so the signed message is the typed struct a wallet
    /// shows. Reverts with `UnknownKind` for a kind with its own function (1, 6, 9) or none,
    /// and `MalformedFields` unless `fields` is that encoding with every member in range.
    /// @param kind the record kind
    /// @param fields `abi.encode` of the record's struct
    /// @param signature the author's 65-byte EIP-712 signature (r, s, v)
    function submitRecord(uint8 kind, bytes calldata fields, bytes calldata signature) external;







    /// @notice Sets the share of a batch's lines that a follow-up round samples. Only the
    /// admin (the provincial civil-affairs office).
    /// @param rateBps basis points, 0..10000 (0 turns follow-ups off)
    function setFollowUpRate(uint16 rateBps) external;

    // ------------------------------------------------------------------ views
    /// @notice The number of leaves in the log.
    function logSize() external view returns (uint256);

    /// @notice The RFC 9162 root of the log.
    function logRoot() external view returns (bytes32);

    /// @notice The kind of the record with this id, or 0 if none.
    /// @param id a record id
    function recordKind(bytes32 id) external view returns (uint8);

    /// @notice A commitment's committed, delivered and confirmed quantities.
    /// @param commitmentId a commitment id
    function commitmentTotals(bytes32 commitmentId)
        external
        view
        returns (uint128 committed, uint128 delivered, uint128 confirmed);

    /// @notice The county bound to a county office's key, or 0.
    /// @param account an address
    function countyOf(address account) external view returns (uint32);

    /// @notice The unified social credit code bound to an organization's key, or 0.
    /// @param account an address
    function orgCodeOf(address account) external view returns (bytes32);

    /// @notice The EIP-712 domain separator records are signed under.
    function domainSeparator() external view returns (bytes32);

    /// @notice The follow-up rate in basis points (0: follow-ups are off).
    function followUpRate() external view returns (uint16);

    /// @notice A fund's pledged and committed amounts, in fen.
    /// @param fundId a fund id
    function fundTotals(bytes32 fundId) external view returns (uint128 pledged, uint128 committed);
}
