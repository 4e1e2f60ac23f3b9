"""The pipeline's artifact formats, one module each: its writer, its reader and its integrity
check, over one atomic-write helper (``atomic``). Every other module reads artifacts through them."""
