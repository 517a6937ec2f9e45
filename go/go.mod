module tswal

go 1.19
