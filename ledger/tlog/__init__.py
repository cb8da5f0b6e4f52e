"""The transparency log's C2SP side: signed checkpoints (notes), witnesses, the checkpointer."""
