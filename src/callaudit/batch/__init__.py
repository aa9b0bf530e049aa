"""The nightly batch: finding the calls (jobs), one auditor per worker process (worker), the
local process pool that drives them and stores results (pool), and the same on Dask (cluster)."""
