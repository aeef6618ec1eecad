// The tests run real (tiny) pipelines; one at a time keeps them fast and quiet on a 2-core machine.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
