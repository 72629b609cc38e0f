"""The member domain's errors."""

from __future__ import annotations

from patron.core.errors import Conflict, NotFound


class MemberNotFound(NotFound):
    code = "member_not_found"
    title = "Member not found"


class MemberExists(Conflict):
    code = "member_exists"
    title = "A member with this mobile exists"


class IdentityTaken(Conflict):
    code = "identity_taken"
    title = "This identity belongs to another member"


class MemberCodeInvalid(NotFound):
    code = "member_code_invalid"
    title = "Member code unknown or expired"


class MemberNotActive(Conflict):
    code = "member_not_active"
    title = "Member is merged or erased"


class AttributeExists(Conflict):
    code = "attribute_exists"
    title = "An attribute with this code exists"


class AttributeNotFound(NotFound):
    code = "attribute_not_found"
    title = "Attribute not found"
