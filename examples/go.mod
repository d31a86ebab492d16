module github.com/pmdstack/pmd/examples

go 1.26.8

require github.com/pmdstack/pmd v0.0.0

require (
	github.com/BurntSushi/toml v1.6.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/pmdstack/pmd => ../
