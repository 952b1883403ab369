/// What `import SweepRunner` brings: the pure core and the transports with it.
@_exported import SweepCore
@_exported import SweepTransport
