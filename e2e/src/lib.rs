//! fmesh-e2e: see the README (work in progress in this session).
