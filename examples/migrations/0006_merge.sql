-- The merge revision: both branches are its parents; it runs nothing.
SELECT schemamig.register('0006_merge', '', '',
  parents => '{0005a_posts,0005b_last_seen}',
  message => 'merge posts and last_seen');
