module github.com/poolbot/poolbot

go 1.26.8
