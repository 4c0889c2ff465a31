// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title ReceiptAnchor
/// @notice Anchors batches of the market's receipts transparency log (an RFC 9162 Merkle log)
/// on chain. Each call records that the log of size `treeSize` had Merkle root `root` when batch
/// `batchId` was sealed, and emits `Anchored`. Batch ids and tree sizes only ever grow, so an
/// anchored checkpoint can never be replaced by an older or shorter one.
/// @dev Only the latest head is kept in storage (batch id and tree size packed in one slot, the
/// root in another); the history of anchors lives in the `Anchored` events. Every `anchor` call
/// therefore does the same fixed work whatever the size of the batch or of the log.
/// Roles follow OpenZeppelin's AccessControl (same selectors, events and errors) in a reduced
/// form: `DEFAULT_ADMIN_ROLE` is the admin of every role.
contract ReceiptAnchor {
    /// @notice Role that grants and revokes every role, itself included.
    bytes32 public constant DEFAULT_ADMIN_ROLE = 0x00;

    /// @notice Role allowed to call `anchor`.
    bytes32 public constant ANCHOR_ROLE = keccak256("ANCHOR_ROLE");

    /// @dev Bit 255 of `_head`. The constructor sets it and it is never cleared, so the head slot
    /// is never zero and the first `anchor` pays the same non-zero to non-zero SSTORE as every
    /// later one (the pattern of OpenZeppelin's ReentrancyGuard).
    uint256 private constant _HEAD_SET = 1 << 255;

    /// @dev Value of `_root` before the first anchor: non-zero for the same reason as
    /// `_HEAD_SET`. `head()` reports a zero root while nothing is anchored.
    bytes32 private constant _NO_ROOT = bytes32(uint256(1));

    /// @dev Packed head: bits 0..63 the last batch id, bits 64..127 the last tree size,
    /// bit 255 `_HEAD_SET`.
    uint256 private _head;

    /// @dev Merkle root of the last anchored batch (`_NO_ROOT` before the first).
    bytes32 private _root;

    mapping(bytes32 role => mapping(address account => bool)) private _roles;

    /// @notice A batch of the log was anchored: the log of `treeSize` leaves had root `root`.
    event Anchored(uint64 indexed batchId, bytes32 indexed root, uint64 treeSize);

    /// @notice `account` was granted `role` by `sender`.
    event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender);

    /// @notice `account` lost `role`; `sender` revoked it, or is `account` renouncing it.
    event RoleRevoked(bytes32 indexed role, address indexed account, address indexed sender);

    /// @notice `account` lacks `neededRole` for the call it made.
    error AccessControlUnauthorizedAccount(address account, bytes32 neededRole);

    /// @notice `renounceRole` was called with an account other than the caller.
    error AccessControlBadConfirmation();

    /// @notice The constructor was given the zero address for a role holder.
    error ZeroAddress();

    /// @notice `anchor` was called with a batch id not above the last anchored one.
    error BatchIdNotIncreasing(uint64 last, uint64 given);

    /// @notice `anchor` was called with a tree size not above the last anchored one.
    error TreeSizeNotIncreasing(uint64 last, uint64 given);

    /// @param admin Holder of `DEFAULT_ADMIN_ROLE` (grants and revokes roles).
    /// @param anchorer Holder of `ANCHOR_ROLE` (the platform's anchoring key).
    constructor(address admin, address anchorer) {
        if (admin == address(0) || anchorer == address(0)) revert ZeroAddress();
        _head = _HEAD_SET;
        _root = _NO_ROOT;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ANCHOR_ROLE, anchorer);
    }

    /// @notice Records that the log had Merkle root `root` at size `treeSize` when batch
    /// `batchId` was sealed.
    /// @dev Reverts with `AccessControlUnauthorizedAccount` unless the caller has `ANCHOR_ROLE`,
    /// with `BatchIdNotIncreasing` unless `batchId` is above the last one and with
    /// `TreeSizeNotIncreasing` unless `treeSize` is above the last one.
    /// @param batchId Id of the sealed batch; strictly increasing, gaps allowed.
    /// @param root RFC 9162 Merkle tree head of the log at `treeSize`.
    /// @param treeSize Number of leaves in the log; strictly increasing.
    function anchor(uint64 batchId, bytes32 root, uint64 treeSize) external {
        if (!_roles[ANCHOR_ROLE][msg.sender]) {
            revert AccessControlUnauthorizedAccount(msg.sender, ANCHOR_ROLE);
        }
        uint256 packed = _head;
        uint64 lastBatchId = uint64(packed);
        uint64 lastTreeSize = uint64(packed >> 64);
        if (batchId <= lastBatchId) revert BatchIdNotIncreasing(lastBatchId, batchId);
        if (treeSize <= lastTreeSize) revert TreeSizeNotIncreasing(lastTreeSize, treeSize);
        _head = _HEAD_SET | (uint256(treeSize) << 64) | uint256(batchId);
        _root = root;
        emit Anchored(batchId, root, treeSize);
    }

    /// @notice The last anchored batch; all zero while nothing is anchored.
    /// @return batchId Id of the last anchored batch.
    /// @return treeSize Log size at that batch.
    /// @return root Merkle root of the log at `treeSize`.
    function head() external view returns (uint64 batchId, uint64 treeSize, bytes32 root) {
        uint256 packed = _head;
        batchId = uint64(packed);
        treeSize = uint64(packed >> 64);
        root = batchId == 0 ? bytes32(0) : _root;
    }

    /// @notice Whether `account` has `role`.
    function hasRole(bytes32 role, address account) public view returns (bool) {
        return _roles[role][account];
    }

    /// @notice The role that administers `role`: always `DEFAULT_ADMIN_ROLE`.
    function getRoleAdmin(bytes32) public pure returns (bytes32) {
        return DEFAULT_ADMIN_ROLE;
    }

    /// @notice Grants `role` to `account`; emits `RoleGranted` unless it already had it.
    /// @dev Only `DEFAULT_ADMIN_ROLE` may call it.
    function grantRole(bytes32 role, address account) external {
        _checkRole(DEFAULT_ADMIN_ROLE);
        _grantRole(role, account);
    }

    /// @notice Revokes `role` from `account`; emits `RoleRevoked` if it had it.
    /// @dev Only `DEFAULT_ADMIN_ROLE` may call it. An admin revoking its own admin role leaves
    /// the roles with no one to manage them.
    function revokeRole(bytes32 role, address account) external {
        _checkRole(DEFAULT_ADMIN_ROLE);
        _revokeRole(role, account);
    }

    /// @notice Gives up `role` held by the caller; emits `RoleRevoked` if it had it.
    /// @param callerConfirmation Must be the caller's own address, against mistaken calls.
    function renounceRole(bytes32 role, address callerConfirmation) external {
        if (callerConfirmation != msg.sender) revert AccessControlBadConfirmation();
        _revokeRole(role, callerConfirmation);
    }

    function _checkRole(bytes32 role) private view {
        if (!_roles[role][msg.sender]) revert AccessControlUnauthorizedAccount(msg.sender, role);
    }

    function _grantRole(bytes32 role, address account) private {
        if (!_roles[role][account]) {
            _roles[role][account] = true;
            emit RoleGranted(role, account, msg.sender);
        }
    }

    function _revokeRole(bytes32 role, address account) private {
        if (_roles[role][account]) {
            _roles[role][account] = false;
            emit RoleRevoked(role, account, msg.sender);
        }
    }
}
