"""Rate–distortion evaluation: metrics, live classical anchors, curve interpolation."""
