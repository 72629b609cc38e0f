"""The tags domain's errors."""

from __future__ import annotations

from patron.core.errors import Conflict, NotFound


class TagNotFound(NotFound):
    code = "tag_not_found"
    title = "Tag not found"


class TagNameTaken(Conflict):
    code = "tag_name_taken"
    title = "A tag with this name exists"


class RuleTagIsComputed(Conflict):
    """A rule tag's members are what its rule selects: nobody adds or removes them by hand."""

    code = "rule_tag_is_computed"
    title = "A rule tag's members are computed"


class NotARuleTag(Conflict):
    code = "not_a_rule_tag"
    title = "Only a rule tag is refreshed"
