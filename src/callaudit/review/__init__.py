"""Human review of audited calls: accounts, the nightly queue (抽检), reviews, appeals (申诉),
calibration, and the web workbench (`audit serve`)."""
