# facegate.dask
