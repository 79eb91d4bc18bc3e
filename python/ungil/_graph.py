"""ungil.Graph's records and its networkx conversion.

The Graph type itself is C (src/python/graph.c); it builds Node and Edge
records without running Python code per node, and calls to_networkx here.
"""

from typing import NamedTuple, Optional

__all__ = ["Edge", "Node", "to_networkx"]


class Node(NamedTuple):
    """One page of a link graph (an immutable named tuple, built in C).

    id: the node's index.  url: as added (cleaned of invalid UTF-8 and
    control characters).  status: HTTP status, 0 if not fetched.  depth:
    link distance from a start URL, None if unknown.  title, content_type,
    error: text or None.  bytes: body size or None.  in_degree /
    out_degree: distinct links in and out.  x, y: the layout's position,
    None before a layout.
    """

    id: int
    url: str
    status: int
    depth: Optional[int]
    title: Optional[str]
    content_type: Optional[str]
    bytes: Optional[int]
    error: Optional[str]
    in_degree: int
    out_degree: int
    x: Optional[float]
    y: Optional[float]


class Edge(NamedTuple):
    """A link from node `source` to node `target`, seen `count` times."""

    source: int
    target: int
    count: int


def to_networkx(graph):
    """A networkx.DiGraph of `graph`: node ids 0..n-1 with every attribute
    that is not None (as GraphML keeps them), edges with `count`."""
    import networkx as nx

    out = nx.DiGraph()
    for node in graph.nodes:
        attrs = {k: v for k, v in node._asdict().items()
                 if k != "id" and v is not None}
        out.add_node(node.id, **attrs)
    out.add_edges_from((e.source, e.target, {"count": e.count})
                       for e in graph.edges)
    return out
