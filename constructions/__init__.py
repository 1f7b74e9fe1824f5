"""What is built and checked: the SUBLEQ machine and its programs, the gadgets, and the looped
computer assembled from them."""
