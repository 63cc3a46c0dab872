package pipeline

// Version is swemill's version, set at build time with
// -ldflags "-X swemill/pipeline.Version=v1.2.3"; "dev" in builds without it. Images, manifests
// and dataset cards carry it.
var Version = "dev"
