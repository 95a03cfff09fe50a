"""Speech recognition with a chain of CTC links on a frozen pretrained encoder."""
