"""Looking into a menu file's YAML nodes, whose places the loader's messages name.

The shape of a file (keys, types, enums) is checked against its JSON Schema (``ussd.shape``) before
the loader looks at the nodes; each accessor here gives the value when the node has the expected
shape and None when it has not (the schema has said so already, at its place).
"""

from __future__ import annotations

import yaml


def mapping_of(node: yaml.Node | None) -> dict[str, yaml.Node] | None:
    """A mapping's entries by key (the first of duplicated keys; keys that are not words left out)."""
    if not isinstance(node, yaml.MappingNode):
        return None
    out: dict[str, yaml.Node] = {}
    for key_node, value in node.value:
        if isinstance(key_node, yaml.ScalarNode) and not key_node.tag.endswith(":null"):
            out.setdefault(str(key_node.value), value)
    return out


def text_of(node: yaml.Node | None) -> str | None:
    """A scalar's text as written (a number or a boolean is text too), None for null or a collection."""
    if isinstance(node, yaml.ScalarNode) and not node.tag.endswith(":null"):
        return str(node.value)
    return None


def whole_of(node: yaml.Node | None) -> int | None:
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":int"):
        try:
            return int(str(node.value).replace("_", ""), 0)
        except ValueError:
            return None
    return None


def flag_of(node: yaml.Node | None) -> bool | None:
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":bool"):
        return str(node.value).lower() in ("true", "yes", "on")
    return None


def placed_texts_of(node: yaml.Node | None) -> list[tuple[yaml.Node, str]]:
    """Each text of a list with its own node (for a message about it); other items left out."""
    if not isinstance(node, yaml.SequenceNode):
        return []
    found = ((item, text_of(item)) for item in node.value)
    return [(item, text) for item, text in found if text is not None]


def texts_of(node: yaml.Node | None) -> list[str]:
    return [text for _, text in placed_texts_of(node)]
