"""The storage service: registers datasets, ingests their files, serves keys by time and bytes by key."""
