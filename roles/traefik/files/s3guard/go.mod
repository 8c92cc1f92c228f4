module koprogo.storage/s3guard

go 1.22
