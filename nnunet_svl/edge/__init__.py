"""Image evidence at the label's boundary (``boundary``: the edge fit and the repair; ``part``: the label-round part
that applies it before training) [ours]."""
