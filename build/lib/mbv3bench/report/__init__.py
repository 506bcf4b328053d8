"""Reports over the results store: the paper's tables and figures, and the roofline's calibration."""
