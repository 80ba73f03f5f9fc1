"""The GPU check (`scripts/gpu_check.sh`): an offline pack, a CUDA build for the card found,
a synthesized model of a real shape, and the offload split measured under VRAM caps."""
