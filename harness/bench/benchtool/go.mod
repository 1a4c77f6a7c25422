module benchtool

go 1.22
