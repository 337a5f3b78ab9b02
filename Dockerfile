# syntax=docker/dockerfile:1
# Build: a static binary, no cgo (modernc.org/sqlite is pure Go).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .ci/run builds with this same command.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/poolbot ./cmd/poolbot

# Run: distroless static has the CA bundle and a non-root user, and nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/poolbot /poolbot
USER nonroot:nonroot
# 3000: Slack (/slack/*); 9090: /metrics, /healthz, /readyz with [server] metrics_listen.
EXPOSE 3000 9090
ENTRYPOINT ["/poolbot"]
CMD ["serve", "--config", "/etc/poolbot/config.toml"]
