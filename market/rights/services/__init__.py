"""Rights use cases: resources, registrations, review, grants, disputes, certificates and the
chain check other contexts call before listing, ordering and delivering.

This package is the rights context's one surface: other contexts and the API import these
names (and the value types of rights they pass and get back) from here only. A right that
stops being usable suspends what rests on it and publishes ``UNAVAILABLE``; one that is
usable again publishes ``RESTORED``.
"""

from market.rights.domain import (
    Classification,
    EvidenceKind,
    Origin,
    PILevel,
    RightKind,
    RightStatus,
    Scope,
    Term,
    Territory,
    Violation,
)
from market.rights.services.certificates import (
    PublicCertificate,
    certificate_document,
    get_certificate,
)
from market.rights.services.disputes import open_dispute, resolve_dispute
from market.rights.services.grants import GrantInput, create_grant, revoke_grant
from market.rights.services.lifecycle import (
    RESTORED,
    UNAVAILABLE,
    change_right_status,
    expire_due_rights,
)
from market.rights.services.public_data import (
    AuthorisationDocument,
    AuthorisationInput,
    authorise_public_data_operator,
    get_public_data_authorisation,
    list_public_data_authorisations,
    public_data_scopes,
    public_resources,
    revoke_public_data_authorisation,
)
from market.rights.services.queries import (
    ChainCheck,
    ChainLink,
    ProductChain,
    ResourceProfile,
    check_chain,
    get_grant,
    get_resource,
    get_right,
    holds_product_operation,
    list_disputes,
    list_grants,
    list_resources,
    list_rights,
    operated_products,
    product_chain,
    resource_classifications,
    resource_profiles,
    right_history,
)
from market.rights.services.registration import RightInput, submit_right
from market.rights.services.resources import (
    EvidenceInput,
    ResourceInput,
    add_evidence,
    decode_content,
    register_resource,
)
from market.rights.services.reviews import claim_review, decide_review

__all__ = [
    "RESTORED",
    "UNAVAILABLE",
    "AuthorisationDocument",
    "AuthorisationInput",
    "ChainCheck",
    "ChainLink",
    "Classification",
    "EvidenceInput",
    "EvidenceKind",
    "GrantInput",
    "Origin",
    "PILevel",
    "ProductChain",
    "PublicCertificate",
    "ResourceInput",
    "ResourceProfile",
    "RightInput",
    "RightKind",
    "RightStatus",
    "Scope",
    "Term",
    "Territory",
    "Violation",
    "add_evidence",
    "authorise_public_data_operator",
    "certificate_document",
    "change_right_status",
    "check_chain",
    "claim_review",
    "create_grant",
    "decide_review",
    "decode_content",
    "expire_due_rights",
    "get_certificate",
    "get_grant",
    "get_public_data_authorisation",
    "get_resource",
    "get_right",
    "holds_product_operation",
    "list_disputes",
    "list_grants",
    "list_public_data_authorisations",
    "list_resources",
    "list_rights",
    "open_dispute",
    "operated_products",
    "product_chain",
    "public_data_scopes",
    "public_resources",
    "register_resource",
    "resolve_dispute",
    "resource_classifications",
    "resource_profiles",
    "revoke_grant",
    "revoke_public_data_authorisation",
    "right_history",
    "submit_right",
]
