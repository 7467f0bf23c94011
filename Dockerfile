# Builds the manager and the points engine as static binaries into one
# distroless, non-root image. The manager deploys engines from this same
# image: pass it as IMG so it becomes the manager's default --engine-image.
FROM golang:1.26 AS build
ARG IMG=ghcr.io/loyaltyops/loyalty-operator:dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY contract/ contract/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY engine/ engine/
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w -X main.defaultEngineImage=${IMG}" -o /out/ ./cmd/...

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/manager /out/points-engine /
USER 65532:65532
ENTRYPOINT ["/manager"]
