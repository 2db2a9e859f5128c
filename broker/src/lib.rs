//! fmesh-broker: see the README (work in progress in this session).
