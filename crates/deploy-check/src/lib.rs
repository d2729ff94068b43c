//! Checks of the files under `deploy/`: the tests deserialise every Kubernetes manifest into
//! the typed API structs of `k8s-openapi`, serialise it back and compare, so that an unknown
//! or misspelled field fails; they also apply the example overlay's patches and check the
//! shard counts agree. No code lives here.
