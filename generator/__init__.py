"""kgen: one cluster.yaml in, validated per-node cloud-init user-data and Packer golden images out.

The pipeline, one module per stage:
``load`` (YAML with line marks) -> ``validate`` (JSON Schema + semantic checks, all problems
collected) -> ``model`` (typed, defaults applied, versions resolved) -> ``plan`` (what each node
gets) -> ``render`` (documents and scripts as bytes) -> ``write`` (atomic, with status verbs).
"""

__version__ = "0.1.0"
