"""Pure encodings and rules: records, delivery lines, the Merkle tree, errors. No I/O."""
